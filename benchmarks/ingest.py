"""Ingestion figures for the foundation: file import rate and webhook throughput/latency.

    .venv/bin/python benchmarks/ingest.py [--rows 50000] [--rate 1000] [--duration 10] [--no-postgres]

1. TWCS-schema file import into SQLite (messages/s, one process, one core): the real sample's
   texts in 3-message threads (customer, brand answer, customer), fresh ids.
2. Webhook ingestion over HTTP on loopback, the app under uvicorn (one process), signed
   WhatsApp deliveries (the documented payload with fresh ids) offered at a fixed rate by an
   open-loop client in another process: achieved requests/s, p50/p99 latency measured from
   each request's scheduled send time (so queueing is not hidden), on SQLite and PostgreSQL,
   with processing handed to workers through Redis; then the embedded default, where the one
   process also runs every pipeline step (triage, listening, routing, SLA, analytics).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SAMPLE = REPO / "tests" / "fixtures" / "twcs" / "sample.csv"
WHATSAPP = REPO / "tests" / "fixtures" / "platforms" / "whatsapp" / "messages_text.json"


def make_twcs(path: Path, rows: int) -> None:
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        texts = [r["text"] for r in csv.DictReader(handle)]
    t0 = datetime(2017, 10, 1, tzinfo=UTC)
    fmt = "%a %b %d %H:%M:%S +0000 %Y"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "tweet_id",
                "author_id",
                "inbound",
                "created_at",
                "text",
                "response_tweet_id",
                "in_response_to_tweet_id",
            ]
        )
        for n in range(0, rows, 3):
            base = 10_000_000 + n
            at = t0 + timedelta(seconds=n)
            customer = str(900_000 + n // 3)
            writer.writerow([base, customer, "True", at.strftime(fmt), texts[n % len(texts)], base + 1, ""])
            writer.writerow(
                [
                    base + 1,
                    "AcmeCare",
                    "False",
                    (at + timedelta(minutes=5)).strftime(fmt),
                    f"@{customer} " + texts[(n + 1) % len(texts)],
                    base + 2,
                    base,
                ]
            )
            writer.writerow(
                [
                    base + 2,
                    customer,
                    "True",
                    (at + timedelta(minutes=9)).strftime(fmt),
                    texts[(n + 2) % len(texts)],
                    "",
                    base + 1,
                ]
            )


def bench_file_import(rows: int) -> None:
    from socialdesk.config import get_settings
    from socialdesk.db.engine import get_engine, reset_engine_cache, session_scope
    from socialdesk.db.migrate import upgrade
    from socialdesk.ingest.files import import_twcs

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SOCIALDESK_DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
        get_settings.cache_clear()
        reset_engine_cache()
        upgrade(get_engine())
        path = Path(tmp) / "twcs.csv"
        make_twcs(path, rows)
        started = time.perf_counter()
        with session_scope() as session:
            report = import_twcs(session, path)
        elapsed = time.perf_counter() - started
        reset_engine_cache()
    print(
        f"file import (TWCS CSV → SQLite): {report.messages} messages, {report.conversations} "
        f"conversations in {elapsed:.2f} s = {report.messages / elapsed:,.0f} messages/s "
        f"(target ≥ 5,000/s)"
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_url: str, port: int, data_dir: str, queue_url: str = "") -> subprocess.Popen:
    env = {
        **os.environ,
        "SOCIALDESK_DATABASE_URL": db_url,
        "SOCIALDESK_DATA_DIR": data_dir,
        "SOCIALDESK_TRIAGE_TIER": "fast",
        "SOCIALDESK_QUEUE_URL": queue_url,
        "SOCIALDESK_BACKGROUND_JOBS": "0",
    }
    subprocess.run(
        [sys.executable, "-m", "socialdesk.cli", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    seed = (
        "import socialdesk.db.models\nfrom socialdesk.db.engine import session_scope\n"
        "from socialdesk.brands.models import Brand, SocialAccount\n"
        "with session_scope() as s:\n"
        "    b = Brand(slug='bench', name='Bench'); s.add(b)\n"
        "    s.add(SocialAccount(brand=b, platform='whatsapp', slug='bench-wa',"
        " external_id='106540352242922', app_secret='bench-secret', verify_token='v'))\n"
    )
    subprocess.run([sys.executable, "-c", seed], env=env, check=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "socialdesk.web.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def signed_bodies(count: int) -> list[tuple[bytes, dict[str, str]]]:
    from socialdesk.platforms.base import AccountCredentials
    from socialdesk.platforms.registry import sign

    template = json.loads(WHATSAPP.read_text())
    creds = AccountCredentials(external_id="106540352242922", app_secret="bench-secret")
    out = []
    for n in range(count):
        payload = copy.deepcopy(template)
        value = payload["entry"][0]["changes"][0]["value"]
        value["contacts"][0]["wa_id"] = str(4915000000000 + n % 5000)
        message = value["messages"][0]
        message["id"] = f"wamid.bench{n}"
        message["from"] = value["contacts"][0]["wa_id"]
        message["text"]["body"] = f"Where is my order {n}? It was due yesterday."
        body = json.dumps(payload).encode()
        out.append((body, {"content-type": "application/json", **sign("whatsapp", body, creds)}))
    return out


async def offer(
    url: str, bodies: list[tuple[bytes, dict[str, str]]], rate: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    # httpx's pool slows down badly with thousands of waiting requests, so at most 64 are in
    # flight; latency still counts from the scheduled send time, so waiting for a slot shows.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    slots = asyncio.Semaphore(64)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        start = time.perf_counter() + 0.2

        async def one(index: int, body: bytes, headers: dict[str, str]) -> None:
            nonlocal errors
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                async with slots:
                    response = await client.post(url, content=body, headers=headers)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - scheduled)

        await asyncio.gather(*(one(i, b, h) for i, (b, h) in enumerate(bodies)))
        elapsed = time.perf_counter() - start
    return latencies, errors, elapsed


def bench_webhooks(
    label: str, db_url: str, rate: float, duration: float, data_dir: str, queue_url: str = ""
) -> None:
    port = free_port()
    server = start_server(db_url, port, data_dir, queue_url)
    try:
        warm = signed_bodies(200)
        asyncio.run(
            offer(
                f"http://127.0.0.1:{port}/webhooks/whatsapp/bench-wa",
                [(b.replace(b"wamid.bench", b"wamid.warm"), h) for b, h in warm],
                200,
            )
        )
        bodies = signed_bodies(int(rate * duration))
        latencies, errors, elapsed = asyncio.run(
            offer(f"http://127.0.0.1:{port}/webhooks/whatsapp/bench-wa", bodies, rate)
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"webhooks on {label}: offered {rate:,.0f} req/s for {duration:.0f} s → achieved "
        f"{len(latencies) / elapsed:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, errors {errors} "
        f"(target ≥ 1,000 req/s with p99 < 100 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--embedded-rate", type=float, default=50, help="offered rate, embedded run")
    args = parser.parse_args()

    from tests.services import PostgresServer, RedisServer

    bench_file_import(args.rows)
    # Ingestion proper: the web process verifies, stores and enqueues; the processing steps run
    # in workers (none are started here, the stream just grows), as in a production layout.
    redis = RedisServer()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/web.db"
            bench_webhooks("SQLite (queue: Redis)", url, args.rate, args.duration, tmp, redis.url)
        if not args.no_postgres:
            pg = PostgresServer()
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    bench_webhooks(
                        "PostgreSQL (queue: Redis)", pg.url, args.rate, args.duration, tmp, redis.url
                    )
            finally:
                pg.stop()
        # The embedded default for comparison: the one process also runs every pipeline step.
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/emb.db"
            bench_webhooks(
                "SQLite, embedded (in-process processing)", url, args.embedded_rate, args.duration, tmp
            )
    finally:
        redis.cleanup()


if __name__ == "__main__":
    main()
