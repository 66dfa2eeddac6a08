"""End-to-end throughput and latency: webhook → stored → triaged, threaded, routed → committed.

    .venv/bin/python benchmarks/scale.py [--messages 150] [--workers 1 2 4] [--phase-seconds 15]
        [--no-embedded] [--out var/bench/scale.json]

Starts its own PostgreSQL and Redis (the test suite's helpers), one web process (uvicorn, the
real app) and N `socialdesk worker` processes; a load generator posts signed Telegram webhook
deliveries over HTTP. For each configuration it measures

* sustained throughput: ``--messages`` deliveries sent as fast as 8 client threads can, timed
  from the first send until the last message's processing is committed;
* at 50 % and 90 % of that throughput, paced for ``--phase-seconds``: p50/p99 of end-to-end
  latency (message stored → its processing committed, from the database's own timestamps) and
  the largest queue lag seen (entries waiting in the stream, sampled every 0.25 s).

The embedded default (SQLite, in-process queue, the worker thread inside the web process) is
measured the same way for comparison. Everything (load generator, web, workers, PostgreSQL,
Redis) shares this machine's cores; the figures say so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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


class Desk:
    """One configuration: a web process and its workers, on one database."""

    def __init__(self, name: str, env: dict[str, str], workers: int, logs: Path) -> None:
        self.name, self.env, self.workers = name, env, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.procs: list[subprocess.Popen] = []
        self.engine = sql_engine(env["SOCIALDESK_DATABASE_URL"])
        self.redis = (
            redis.Redis.from_url(env["SOCIALDESK_QUEUE_URL"]) if env.get("SOCIALDESK_QUEUE_URL") else None
        )

    def _spawn(self, args: list[str], log: str) -> None:
        out = open(self.logs / log, "wb")  # noqa: SIM115 - lives as long as the process
        self.procs.append(
            subprocess.Popen(args, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        )

    def start(self) -> None:
        self._spawn(
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
        )
        for i in range(self.workers):
            self._spawn(
                [sys.executable, "-c", "from socialdesk.cli import app; app(['worker'])"],
                f"{self.name}-worker{i}.log",
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200 and self._workers_ready():
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{self.name} did not become ready ({self._why()}); see {self.logs}")
        # The embedded desk loads triage in the web process on its first message: warm it up.
        self.send(["warm-up: where is my order?"], threads=1)
        self.wait_processed(timeout=120)

    def _why(self) -> str:
        try:
            ready = httpx.get(self.url + "/readyz", timeout=2).text
        except httpx.HTTPError as exc:
            ready = repr(exc)
        consumers = (
            self.redis.xinfo_consumers("socialdesk:messages", "socialdesk-workers") if self.redis else []
        )
        return f"readyz {ready}; consumers {consumers}"

    def _workers_ready(self) -> bool:
        if self.redis is None:
            return True
        try:
            consumers = self.redis.xinfo_consumers("socialdesk:messages", "socialdesk-workers")
        except redis.ResponseError:
            return False
        return len(consumers) >= self.workers  # a consumer appears once its models are loaded

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.engine.dispose()

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
        failures = 0
        with httpx.Client(base_url=self.url, timeout=30) as client, ThreadPoolExecutor(threads) as pool:

            def post(t: str) -> bool:
                body, headers = self._delivery(t)
                return (
                    client.post("/webhooks/telegram/bench", content=body, headers=headers).status_code == 200
                )

            failures = sum(not ok for ok in pool.map(post, texts))
        return failures

    def paced(self, rate: float, seconds: float) -> tuple[int, int]:
        """Send at ``rate`` per second for ``seconds``; returns (sent, refused)."""
        total = max(1, int(rate * seconds))
        refused = 0
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

    def unprocessed(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM message WHERE processed_at IS NULL")).scalar_one()

    def wait_processed(self, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while self.unprocessed() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.unprocessed():
            raise RuntimeError(f"{self.name}: messages still unprocessed after {timeout}s")
        return time.monotonic()

    def lag(self) -> int:
        if self.redis is None:
            return self.unprocessed()  # in-process: what is stored and not processed yet
        info = self.redis.xinfo_groups("socialdesk:messages")[0]
        return int(info.get("lag") or 0) + int(info["pending"])

    def latencies_since(self, message_id: int) -> list[float]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT received_at, processed_at FROM message "
                    "WHERE id > :id AND processed_at IS NOT NULL"
                ),
                {"id": message_id},
            ).all()
        return [(_dt(p) - _dt(r)) for r, p in rows]

    def last_id(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT coalesce(max(id), 0) FROM message")).scalar_one()


def _dt(value: Any) -> float:
    if isinstance(value, str):  # SQLite returns text
        from datetime import datetime

        value = datetime.fromisoformat(value)
    return value.timestamp()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(desk: Desk, messages: int, phase_seconds: float) -> dict[str, Any]:
    start = time.monotonic()
    refused = desk.send([f"where is my order {i}? it is late" for i in range(messages)])
    end = desk.wait_processed(timeout=600)
    throughput = messages / (end - start)
    result: dict[str, Any] = {"throughput_per_s": round(throughput, 2), "refused": refused, "phases": {}}
    print(f"  {desk.name}: sustained {throughput:.1f} msg/s ({messages} messages)", flush=True)
    for share in (0.5, 0.9):
        rate = throughput * share
        before = desk.last_id()
        lags: list[int] = []
        stop = threading.Event()

        def sample(stop: threading.Event = stop, lags: list[int] = lags) -> None:
            while not stop.is_set():
                lags.append(desk.lag())
                stop.wait(0.25)

        sampler = threading.Thread(target=sample)
        sampler.start()
        sent, refused = desk.paced(rate, phase_seconds)
        desk.wait_processed(timeout=600)
        stop.set()
        sampler.join()
        latencies = desk.latencies_since(before)
        phase = {
            "rate_per_s": round(rate, 2),
            "sent": sent,
            "refused": refused,
            "p50_s": round(percentile(latencies, 0.5), 3),
            "p99_s": round(percentile(latencies, 0.99), 3),
            "max_lag": max(lags, default=0),
            "mean_lag": round(statistics.fmean(lags), 1) if lags else 0,
        }
        result["phases"][f"{int(share * 100)}%"] = phase
        print(
            f"    at {int(share * 100)}% ({rate:.1f}/s, {sent} msgs): "
            f"p50 {phase['p50_s']}s p99 {phase['p99_s']}s "
            f"lag max {phase['max_lag']} mean {phase['mean_lag']}",
            flush=True,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=150, help="deliveries for the throughput phase")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--phase-seconds", type=float, default=15.0)
    parser.add_argument("--no-embedded", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "scale.json")
    args = parser.parse_args()

    cores = os.cpu_count()
    load = os.getloadavg()[0]
    print(f"machine: {cores} cores, load average {load:.1f} at start (everything below shares them)")
    print(f"size: {args.messages} deliveries per throughput run, {args.phase_seconds:.0f}s per latency phase")
    logs = Path(tempfile.mkdtemp(prefix="socialdesk-bench-"))
    results: dict[str, Any] = {"cores": cores, "load_average_at_start": load, "messages": args.messages}
    pg = PostgresServer()
    rds = RedisServer()
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
            configs.append(
                (
                    f"redis-{n}w",
                    base_env(
                        SOCIALDESK_DATABASE_URL=url,
                        SOCIALDESK_QUEUE_URL=rds.url,
                        SOCIALDESK_DATA_DIR=str(logs),
                    ),
                    n,
                )
            )
        admin.dispose()
        for name, env, workers in configs:
            prepare_database(env)
            if env.get("SOCIALDESK_QUEUE_URL"):
                redis.Redis.from_url(rds.url).flushall()
            desk = Desk(name, env, workers, logs)
            print(f"{name}: starting web + {workers} worker process(es)", flush=True)
            try:
                desk.start()
                results[name] = measure(desk, args.messages, args.phase_seconds)
            finally:
                desk.stop()
    finally:
        rds.cleanup()
        pg.stop()

    print("\nsummary (messages per second, end to end; latency = stored → processing committed)")
    for name in [k for k in results if isinstance(results[k], dict)]:
        r = results[name]
        p50, p90 = r["phases"]["50%"], r["phases"]["90%"]
        print(
            f"  {name:>10}: {r['throughput_per_s']:7.1f}/s | 50%: p50 {p50['p50_s']}s p99 {p50['p99_s']}s "
            f"lag≤{p50['max_lag']} | 90%: p50 {p90['p50_s']}s p99 {p90['p99_s']}s lag≤{p90['max_lag']}"
        )
    if "redis-1w" in results and "redis-2w" in results:
        ratio = results["redis-2w"]["throughput_per_s"] / results["redis-1w"]["throughput_per_s"]
        results["speedup_1_to_2"] = round(ratio, 2)
        print(f"  1 → 2 workers: {ratio:.2f}x (target ≥ 1.7x)")
    if "redis-4w" in results and "redis-1w" in results:
        ratio = results["redis-4w"]["throughput_per_s"] / results["redis-1w"]["throughput_per_s"]
        results["speedup_1_to_4"] = round(ratio, 2)
        print(f"  1 → 4 workers: {ratio:.2f}x")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f}; logs in {logs}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
