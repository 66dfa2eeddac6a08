"""Worker throughput with 1, 2, 4 worker processes, where the CPU goes, and latency under load.

    .venv/bin/python benchmarks/scale.py [--messages 400] [--workers 1 2 4] [--phase-seconds 6]
        [--no-embedded] [--out var/bench/scale.json]

Starts its own PostgreSQL and Redis (the test suite's helpers), one web process (uvicorn, the
real app) and N `socialdesk worker` processes; a load generator posts signed Telegram webhook
deliveries over HTTP. For each configuration:

1. **Capacity (drain).** The workers are started and warmed up, then paused (SIGSTOP);
   ``--messages`` deliveries go through the real webhook path (verified, stored, appended to the
   stream); then the workers resume (SIGCONT) and the drain is timed until every message is
   triaged, threaded, routed and stored (``processed_at`` committed). So the figure is what the
   workers sustain, without the load generator and the web process competing for the same two
   cores. CPU seconds are read from /proc for each part (workers, PostgreSQL, Redis, web, this
   load generator, and everything else on the machine) and printed per message.
2. **Latency at fixed offered rates.** With everything running, deliveries are paced at 50 % and
   90 % of that capacity for ``--phase-seconds``: p50/p99 end-to-end latency (message stored →
   its processing committed, the database's own timestamps) and the largest queue lag seen.
   Here ingestion (web + load generator) shares the cores with the workers, as in production on
   one host.

The embedded default (SQLite, in-process queue, the worker thread inside the web process) is
measured the same way: its backlog is stored through the webhook path by a web process that
hands it to a Redis stream nobody reads, then the embedded process starts, recovers the
unprocessed messages and processes them (the drain rate is taken from the first to the last
``processed_at``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.services: throwaway PostgreSQL and Redis

import httpx  # noqa: E402
import redis  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from tests.services import PostgresServer, RedisServer, free_port  # noqa: E402

SECRET = "bench-secret"
CLIENT_THREADS = 8
TICK = os.sysconf("SC_CLK_TCK")
STREAM, GROUP = "socialdesk:messages", "socialdesk-workers"
WORKER_APP = "socialdesk-bench-worker"
SEPARATE_SESSIONS = [True]  # --one-session: every process in this benchmark's session


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCIALDESK_", "PROMETHEUS_"))}
    env.update(SOCIALDESK_TRIAGE_TIER="fast", PYTHONPATH=str(ROOT / "src"), **extra)
    return env


def sql_engine(url: str):
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url)


def prepare_database(env: dict[str, str]) -> None:
    """Schema (every migration) and one Telegram account for the webhooks."""
    program = (
        "from socialdesk.db.engine import get_engine, session_scope\n"
        "from socialdesk.db.migrate import upgrade\n"
        "from socialdesk.brands.models import Brand, SocialAccount\n"
        "upgrade(get_engine())\n"
        "with session_scope() as s:\n"
        "    b = Brand(slug='bench', name='Bench'); s.add(b); s.flush()\n"
        f"    s.add(SocialAccount(brand=b, platform='telegram', slug='bench', verify_token='{SECRET}',"
        " app_secret='x', external_id='1', handle='BenchBot'))\n"
    )
    subprocess.run([sys.executable, "-c", program], env=env, check=True, cwd=ROOT)


# -- CPU accounting from /proc -----------------------------------------------------------------
def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, own CPU ticks, reaped children's CPU ticks) of a process; None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                tree.setdefault(st[0], []).append(int(entry.name))
    return tree


def tree_ticks(root: int, tree: dict[int, list[int]]) -> int:
    """CPU ticks of a process, its live descendants and the descendants it has reaped."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        st = _stat(pid)
        if st is None:
            continue
        total += st[1] + (st[2] if pid == root else 0)
        todo.extend(tree.get(pid, []))
    return total


def machine_busy_ticks() -> int:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle


class CpuMeter:
    """CPU seconds per part of the system between ``start`` and ``stop``."""

    def __init__(self, parts: dict[str, list[int]], alone: dict[str, int]) -> None:
        self.parts = parts  # name -> root pids (their process trees count)
        self.alone = alone  # name -> a pid whose children are counted elsewhere (this process)

    def sample(self) -> dict[str, int]:
        tree = _children()
        ticks = {name: sum(tree_ticks(pid, tree) for pid in pids) for name, pids in self.parts.items()}
        for name, pid in self.alone.items():
            st = _stat(pid)
            ticks[name] = st[1] if st else 0
        ticks["machine"] = machine_busy_ticks()
        return ticks

    def start(self) -> None:
        self.t0, self.before = time.monotonic(), self.sample()

    def stop(self) -> dict[str, float]:
        after, wall = self.sample(), time.monotonic() - self.t0
        seconds = {k: (after[k] - self.before[k]) / TICK for k in after}
        seconds["other"] = max(0.0, seconds.pop("machine") - sum(seconds.values()))
        seconds["wall"] = wall
        return seconds


class Desk:
    """One configuration: a web process and its workers, on one database."""

    def __init__(
        self,
        name: str,
        env: dict[str, str],
        workers: int,
        logs: Path,
        pg_pid: int | None,
        redis_pid: int | None,
    ) -> None:
        self.name, self.env, self.workers = name, env, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.web: subprocess.Popen | None = None
        self.worker_procs: list[subprocess.Popen] = []
        self.engine = sql_engine(env["SOCIALDESK_DATABASE_URL"])
        self.redis = (
            redis.Redis.from_url(env["SOCIALDESK_QUEUE_URL"]) if env.get("SOCIALDESK_QUEUE_URL") else None
        )
        self.pg_pid, self.redis_pid = pg_pid, redis_pid

    def _spawn(self, args: list[str], log: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        out = open(self.logs / log, "ab")  # noqa: SIM115 - lives as long as the process
        return subprocess.Popen(
            args,
            env=env or self.env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Each web and worker process in a session of its own, as a systemd unit or container
            # would be: Linux's per-session fair share (autogroup) then gives each process its
            # own share of a busy machine instead of N workers splitting one.
            start_new_session=SEPARATE_SESSIONS[0],
        )

    def start_web(self, env: dict[str, str] | None = None) -> None:
        self.web = self._spawn(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "socialdesk.web.app:create_app",
                "--factory",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            f"{self.name}-web.log",
            env,
        )
        self._wait(lambda: httpx.get(self.url + "/readyz", timeout=2).status_code == 200, "web")

    def stop_web(self) -> None:
        if self.web is not None:
            self.web.terminate()
            self.web.wait(30)
            self.web = None

    def start_workers(self) -> None:
        env = {**self.env, "PGAPPNAME": WORKER_APP}  # tells their backends apart in pg_stat_activity
        for i in range(self.workers):
            self.worker_procs.append(
                self._spawn(
                    [sys.executable, "-c", "from socialdesk.cli import app; app(['worker'])"],
                    f"{self.name}-worker{i}.log",
                    env,
                )
            )
        self._wait(self._workers_ready, "workers")

    def _wait(self, ready, what: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            procs = [*self.worker_procs, *([self.web] if self.web else [])]
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"{self.name}: a process exited while starting; see {self.logs}")
            try:
                if ready():
                    return
            except (httpx.HTTPError, redis.RedisError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name}: {what} did not become ready; see {self.logs}")

    def _workers_ready(self) -> bool:
        assert self.redis is not None
        try:  # a consumer registers once its models are loaded (warm_up)
            return len(self.redis.xinfo_consumers(STREAM, GROUP)) >= self.workers
        except redis.ResponseError:
            return False

    def signal_workers(self, signum: int) -> None:
        for proc in self.worker_procs:
            os.kill(proc.pid, signum)

    def stop(self) -> None:
        self.signal_workers(signal.SIGCONT)
        for proc in [*self.worker_procs, *([self.web] if self.web else [])]:
            proc.terminate()
        for proc in [*self.worker_procs, *([self.web] if self.web else [])]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.engine.dispose()

    def meter(self) -> CpuMeter:
        parts: dict[str, list[int]] = {
            "workers": [p.pid for p in self.worker_procs],
            "web": [self.web.pid] if self.web else [],
            "postgresql": [self.pg_pid] if self.pg_pid else [],
            "redis": [self.redis_pid] if self.redis_pid else [],
        }
        return CpuMeter(parts, {"load generator": os.getpid()})

    # -- load ------------------------------------------------------------------------------
    _counter = [0]
    _lock = threading.Lock()

    def _delivery(self, text_: str) -> tuple[bytes, dict[str, str]]:
        with self._lock:
            self._counter[0] += 1
            n = self._counter[0]
        chat = 100000 + n
        body = {
            "update_id": n,
            "message": {
                "date": 1763900000 + n,
                "message_id": n,
                "text": text_,
                "chat": {"id": chat, "type": "private", "first_name": "Bench", "username": f"u{chat}"},
                "from": {"id": chat, "first_name": "Bench", "username": f"u{chat}"},
            },
        }
        return json.dumps(body).encode(), {
            "content-type": "application/json",
            "x-telegram-bot-api-secret-token": SECRET,
        }

    def send(self, texts: list[str], threads: int = CLIENT_THREADS) -> int:
        with httpx.Client(base_url=self.url, timeout=30) as client, ThreadPoolExecutor(threads) as pool:

            def post(t: str) -> bool:
                body, headers = self._delivery(t)
                return (
                    client.post("/webhooks/telegram/bench", content=body, headers=headers).status_code == 200
                )

            return sum(not ok for ok in pool.map(post, texts))

    def paced(self, rate: float, seconds: float) -> tuple[int, int]:
        """Send at ``rate`` per second for ``seconds``; returns (sent, refused)."""
        total = max(1, int(rate * seconds))
        start = time.monotonic()
        with (
            httpx.Client(base_url=self.url, timeout=30) as client,
            ThreadPoolExecutor(CLIENT_THREADS) as pool,
        ):
            futures = []
            for i in range(total):
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                body, headers = self._delivery(f"my parcel {i} has not arrived, please help")
                futures.append(
                    pool.submit(client.post, "/webhooks/telegram/bench", content=body, headers=headers)
                )
            refused = sum(f.result().status_code != 200 for f in futures)
        return total, refused

    def count(self, where: str = "") -> int:
        with self.engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM message {where}")).scalar_one()

    def unprocessed(self) -> int:
        return self.count("WHERE processed_at IS NULL")

    def wait_processed(self, timeout: float, poll: float = 0.1) -> float:
        deadline = time.monotonic() + timeout
        while self.unprocessed() and time.monotonic() < deadline:
            time.sleep(poll)
        if self.unprocessed():
            raise RuntimeError(f"{self.name}: messages still unprocessed after {timeout}s")
        return time.monotonic()

    def lag(self) -> int:
        if self.redis is None:
            return self.unprocessed()  # in-process: what is stored and not processed yet
        info = self.redis.xinfo_groups(STREAM)[0]
        return int(info.get("lag") or 0) + int(info["pending"])

    def timestamps_since(self, message_id: int) -> list[tuple[float, float]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT received_at, processed_at FROM message "
                    "WHERE id > :id AND processed_at IS NOT NULL"
                ),
                {"id": message_id},
            ).all()
        return [(_dt(r), _dt(p)) for r, p in rows]

    def listening_counted(self) -> int:
        """Messages the listening step counted for the brand (one per inbound message, if no
        concurrent increment was lost)."""
        with self.engine.connect() as conn:
            return conn.execute(
                text("SELECT coalesce(sum(count), 0) FROM listening_count WHERE series LIKE :pattern"),
                {"pattern": "brand:%:all"},
            ).scalar_one()

    def last_id(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT coalesce(max(id), 0) FROM message")).scalar_one()


def _dt(value: Any) -> float:
    if isinstance(value, str):  # SQLite returns text
        value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
    return value.timestamp()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def texts(n: int) -> list[str]:
    return [f"where is my order {i}? it is late" for i in range(n)]


class BackendStates:
    """What the workers' PostgreSQL backends are doing, sampled every 50 ms during the drain: running
    a statement, waiting for a lock (and on which statement), or idle in a transaction (the worker
    is computing, or waiting for a core). Lock waits are where workers serialise on shared rows."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.samples: dict[int, list[str]] = {}  # backend pid -> its states
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = text(
            "SELECT pid, state, wait_event_type, left(regexp_replace(query, '\\s+', ' ', 'g'), 48) "
            "FROM pg_stat_activity WHERE application_name = :app"
        )
        with self.engine.connect() as conn:
            while not self._stop.wait(0.05):
                for pid, state, wait, statement in conn.execute(query, {"app": WORKER_APP}):
                    if state == "active" and wait == "Lock":
                        key = f"lock wait: {statement}"
                    elif state == "active":
                        key = "running a statement"
                    elif state == "idle in transaction":
                        key = "idle in transaction (the worker computing)"
                    else:
                        key = "idle (between transactions)"
                    self.samples.setdefault(pid, []).append(key)
                conn.rollback()

    def __enter__(self) -> BackendStates:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def shares(self) -> dict[str, float]:
        """Shares of the time the backends spent in a transaction. Time between transactions is
        left out: a worker's pool hands out its connections in turn, so with two of them each
        idles half the time however busy the worker is."""
        counts: dict[str, int] = {}
        for states in self.samples.values():
            for key in states:
                if key != "idle (between transactions)":
                    counts[key] = counts.get(key, 0) + 1
        total = sum(counts.values()) or 1
        return {k: round(v / total, 3) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


def drain_redis(desk: Desk, messages: int) -> dict[str, Any]:
    """Workers paused, backlog stored through the webhook path, workers resumed: time the drain."""
    desk.start_web()
    desk.start_workers()
    desk.send(["warm-up: where is my order?"], threads=1)
    desk.wait_processed(timeout=120)
    desk.signal_workers(signal.SIGSTOP)
    before = desk.last_id()
    loaded = time.monotonic()
    refused = desk.send(texts(messages))
    load_s = time.monotonic() - loaded
    stored = desk.count(f"WHERE id > {before}")
    meter = desk.meter()
    meter.start()
    with BackendStates(desk.engine) as states:
        resumed = time.time()
        desk.signal_workers(signal.SIGCONT)
        desk.wait_processed(timeout=600, poll=0.25)  # polls seldom: the load generator stays off the cores
        cpu = meter.stop()
    # The end is the last commit's own timestamp, not when the poll noticed it.
    span = max(p for _, p in desk.timestamps_since(before)) - resumed
    return {
        "stored": stored,
        "refused": refused,
        "ingest_s": load_s,
        "drain_s": span,
        "cpu": cpu,
        "throughput_per_s": stored / span,
        "worker_backends": states.shares(),
        "listening_counted": desk.listening_counted(),
    }


def drain_embedded(desk: Desk, messages: int, redis_url: str) -> dict[str, Any]:
    """Store the backlog through a web process whose queue is a stream nobody reads, then start
    the embedded web process (SQLite, in-process queue), which recovers and processes it."""
    holding = {**desk.env, "SOCIALDESK_QUEUE_URL": redis_url, "SOCIALDESK_BACKGROUND_JOBS": "0"}
    desk.start_web(holding)
    before = desk.last_id()
    loaded = time.monotonic()
    refused = desk.send(texts(messages))
    load_s = time.monotonic() - loaded
    desk.stop_web()
    stored = desk.count(f"WHERE id > {before}")
    desk.start_web()  # recovers the stored, unprocessed backlog at start
    meter = desk.meter()
    meter.start()
    desk.wait_processed(timeout=600, poll=0.25)
    cpu = meter.stop()
    stamps = sorted(p for _, p in desk.timestamps_since(before))
    # Rate from the first to the last processing commit: the web process's start (and its model
    # loading before the first message) is not processing time.
    span = stamps[-1] - stamps[0]
    return {
        "stored": stored,
        "refused": refused,
        "ingest_s": load_s,
        "drain_s": span,
        "cpu": cpu,
        "throughput_per_s": (len(stamps) - 1) / span,
    }


def latency_phase(desk: Desk, rate: float, seconds: float) -> dict[str, Any]:
    before = desk.last_id()
    lags: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            lags.append(desk.lag())
            stop.wait(0.25)

    sampler = threading.Thread(target=sample)
    meter = desk.meter()
    meter.start()
    sampler.start()
    sent, refused = desk.paced(rate, seconds)
    desk.wait_processed(timeout=600)
    stop.set()
    sampler.join()
    cpu = meter.stop()
    latencies = [p - r for r, p in desk.timestamps_since(before)]
    return {
        "rate_per_s": round(rate, 2),
        "sent": sent,
        "refused": refused,
        "p50_s": round(percentile(latencies, 0.5), 3),
        "p99_s": round(percentile(latencies, 0.99), 3),
        "max_lag": max(lags, default=0),
        "mean_lag": round(statistics.fmean(lags), 1) if lags else 0,
        "machine_busy": round(sum(v for k, v in cpu.items() if k != "wall") / cpu["wall"], 2),
    }


def cpu_line(cpu: dict[str, float], messages: int) -> str:
    parts = [k for k in cpu if k != "wall"]
    per = ", ".join(f"{k} {cpu[k] / messages * 1000:.1f}" for k in parts)
    busy = sum(cpu[k] for k in parts) / cpu["wall"]
    return f"CPU ms/msg: {per}; cores busy {busy:.2f} of {os.cpu_count()}"


def measure(desk: Desk, messages: int, phase_seconds: float, redis_url: str) -> dict[str, Any]:
    load = os.getloadavg()[0]
    drain = drain_redis(desk, messages) if desk.workers else drain_embedded(desk, messages, redis_url)
    throughput = drain["throughput_per_s"]
    result: dict[str, Any] = {
        "throughput_per_s": round(throughput, 2),
        "load_average": round(load, 2),
        "drain": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in drain.items() if k != "cpu"},
        "cpu_s": {k: round(v, 3) for k, v in drain["cpu"].items()},
        "phases": {},
    }
    print(
        f"  {desk.name}: {throughput:.1f} msg/s draining {drain['stored']} stored messages in "
        f"{drain['drain_s']:.1f}s (load average {load:.1f}; ingesting them took {drain['ingest_s']:.1f}s)",
        flush=True,
    )
    print(f"    {cpu_line(drain['cpu'], drain['stored'])}", flush=True)
    if drain.get("worker_backends"):
        shares = ", ".join(f"{k} {v:.0%}" for k, v in drain["worker_backends"].items())
        print(f"    worker backends, of their time in a transaction: {shares}", flush=True)
    result["worker_backends"] = drain.get("worker_backends", {})
    if "listening_counted" in drain:
        total = desk.count("WHERE direction = 'inbound'")
        result["listening_counted"] = [drain["listening_counted"], total]
        print(f"    listening brand counts: {drain['listening_counted']} of {total} messages", flush=True)
    for share in (0.5, 0.9):
        phase = latency_phase(desk, throughput * share, phase_seconds)
        result["phases"][f"{int(share * 100)}%"] = phase
        print(
            f"    at {int(share * 100)}% ({phase['rate_per_s']:.1f}/s offered, {phase['sent']} msgs): "
            f"p50 {phase['p50_s']}s p99 {phase['p99_s']}s lag max {phase['max_lag']} "
            f"mean {phase['mean_lag']}; cores busy {phase['machine_busy']}",
            flush=True,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=400, help="stored backlog drained per configuration")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--phase-seconds", type=float, default=6.0)
    parser.add_argument("--no-embedded", action="store_true")
    parser.add_argument(
        "--one-session",
        action="store_true",
        help="run web and workers in this process's session (on a busy machine with autogroup "
        "scheduling they then share one fair share of the CPU, however many workers there are)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "scale.json")
    args = parser.parse_args()

    SEPARATE_SESSIONS[0] = not args.one_session
    cores = os.cpu_count()
    load = os.getloadavg()[0]
    print(f"machine: {cores} cores, load average {load:.1f} at start (everything below shares them)")
    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
    if autogroup.exists() and autogroup.read_text().strip() == "1":
        where = "this benchmark's session" if args.one_session else "a session of its own"
        print(f"scheduler: per-session fair share (autogroup); each web/worker process runs in {where}")
    print(
        f"size: {args.messages} stored messages drained per configuration, "
        f"{args.phase_seconds:.0f}s per latency phase"
    )
    logs = Path(tempfile.mkdtemp(prefix="socialdesk-bench-"))
    results: dict[str, Any] = {
        "cores": cores,
        "load_average_at_start": load,
        "messages": args.messages,
        "separate_sessions": not args.one_session,
    }
    pg = PostgresServer()
    rds = RedisServer()
    pg_pid = int((pg.data / "postmaster.pid").read_text().split()[0])
    try:
        configs: list[tuple[str, dict[str, str], int]] = []
        if not args.no_embedded:
            sqlite = logs / "embedded.db"
            configs.append(
                (
                    "embedded",
                    base_env(SOCIALDESK_DATABASE_URL=f"sqlite:///{sqlite}", SOCIALDESK_DATA_DIR=str(logs)),
                    0,
                )
            )
        admin = sql_engine(pg.url).execution_options(isolation_level="AUTOCOMMIT")
        for n in args.workers:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE bench_{n}"))
            url = pg.url.rsplit("/", 1)[0] + f"/bench_{n}"
            env = base_env(
                SOCIALDESK_DATABASE_URL=url,
                SOCIALDESK_QUEUE_URL=rds.url,
                SOCIALDESK_DATA_DIR=str(logs),
                # The scale-out layout: periodic jobs run in `socialdesk scheduler`, not in web.
                SOCIALDESK_BACKGROUND_JOBS="0",
            )
            configs.append((f"redis-{n}w", env, n))
        admin.dispose()
        for name, env, workers in configs:
            prepare_database(env)
            redis.Redis.from_url(rds.url).flushall()
            desk = Desk(
                name, env, workers, logs, pg_pid if workers else None, rds.proc.pid if workers else None
            )
            print(f"{name}: web + {workers} worker process(es)", flush=True)
            try:
                results[name] = measure(desk, args.messages, args.phase_seconds, rds.url)
            finally:
                desk.stop()
    finally:
        rds.cleanup()
        pg.stop()

    print("\nsummary: capacity = stored backlog drained (msg/s); latency = stored → processing committed")
    base = results.get("redis-1w", {}).get("throughput_per_s")
    for name in [k for k in results if isinstance(results[k], dict)]:
        r = results[name]
        p50, p90 = r["phases"]["50%"], r["phases"]["90%"]
        ratio = f" ({r['throughput_per_s'] / base:.2f}x)" if base and name.startswith("redis") else ""
        print(
            f"  {name:>10}: {r['throughput_per_s']:6.1f}/s{ratio:9} | "
            f"50%: p50 {p50['p50_s']}s p99 {p50['p99_s']}s "
            f"lag≤{p50['max_lag']} | 90%: p50 {p90['p50_s']}s p99 {p90['p99_s']}s lag≤{p90['max_lag']}"
        )
    for n in args.workers:
        if base and f"redis-{n}w" in results and n != 1:
            ratio = results[f"redis-{n}w"]["throughput_per_s"] / base
            results[f"speedup_1_to_{n}"] = round(ratio, 2)
            target = " (target ≥ 1.7x)" if n == 2 else ""
            print(f"  1 → {n} workers: {ratio:.2f}x{target}")
    end_load = os.getloadavg()[0]
    results["load_average_at_end"] = end_load
    print(f"  load average at the end: {end_load:.1f}; logs in {logs}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
