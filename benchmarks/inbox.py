"""Inbox query latency: ``GET /api/v1/conversations`` first page, filtered, on a large desk.

    .venv/bin/python benchmarks/inbox.py [--scale 1.0] [--db sqlite postgresql] [--queries 100]
        [--pg-url postgresql://...] [--out var/bench/inbox.json]

Scale 1.0 is 1,000,000 messages in 200,000 conversations (5 per conversation) for 200 agents,
20 teams, 5 brands and 25 accounts; ``--scale 0.1`` runs a tenth of that. The schema is the
migrated one (``alembic upgrade heads``, every index included); the data is bulk-loaded with
executemany (SQLite) or COPY (PostgreSQL), then ANALYZEd. Without ``--pg-url`` a throwaway
PostgreSQL server is started (the test suite's helper) and removed afterwards.

Each filter is measured twice: through the service function (``conversations.service.
list_conversations``, a fresh session per call) and over HTTP (the real app served by uvicorn
on 127.0.0.1, a bearer token, JSON response). Target: p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.services (throwaway PostgreSQL)

SEED = 7
PLATFORMS = ("x", "facebook", "instagram", "whatsapp", "telegram")
LANGUAGES = ("en", "en", "en", "de", "fr", "es", "pt", "it", "ja", "nl")
STATUS_WEIGHTS = {"new": 8, "open": 22, "pending": 10, "snoozed": 3, "resolved": 45, "closed": 12}
PRIORITY_WEIGHTS = {"urgent": 3, "high": 12, "normal": 70, "low": 15}
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CHUNK = 20_000


def weighted(rng: random.Random, weights: dict[str, int], n: int) -> list[str]:
    return rng.choices(list(weights), weights=list(weights.values()), k=n)


# --- data -----------------------------------------------------------------------------------------


def build_rows(scale: float) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(SEED)
    n_conv = int(200_000 * scale)
    per_conv = 5
    n_customers = max(n_conv // 2, 1)
    brands = [
        {"id": i, "slug": f"brand{i}", "name": f"Brand {i}", "formality": "neutral", "created_at": NOW}
        for i in range(1, 6)
    ]
    accounts = []
    for b in brands:
        for p in PLATFORMS:
            aid = len(accounts) + 1
            accounts.append(
                {
                    "id": aid,
                    "brand_id": b["id"],
                    "platform": p,
                    "slug": f"{p}-{aid}",
                    "external_id": str(aid),
                    "handle": f"care{aid}",
                    "app_secret": "",
                    "verify_token": "",
                    "access_token": "",
                    "api_base_url": "",
                    "created_at": NOW,
                }
            )
    teams = [
        {
            "id": t,
            "slug": f"team{t}",
            "name": f"Team {t}",
            "brand_id": None,
            "languages": "[]",
            "platforms": "[]",
            "timezone": "UTC",
            "is_senior": False,
            "is_crisis": False,
            "created_at": NOW,
        }
        for t in range(1, 21)
    ]
    agents = [
        {
            "id": a,
            "email": f"agent{a}@bench.example",
            "name": f"Agent {a}",
            "password_hash": "",
            "role": "agent",
            "languages": "[]",
            "platforms": "[]",
            "capacity": 20,
            "availability": "online",
            "active": True,
            "last_assigned_at": None,
            "created_at": NOW,
        }
        for a in range(1, 201)
    ]
    customers = [
        {
            "id": c,
            "name": f"Customer {c}",
            "email": "",
            "phone": "",
            "locale": "",
            "country": "",
            "followers": rng.randint(0, 5000),
            "vip": False,
            "tags": "[]",
            "notes": "",
            "created_at": NOW,
        }
        for c in range(1, n_customers + 1)
    ]
    statuses = weighted(rng, STATUS_WEIGHTS, n_conv)
    priorities = weighted(rng, PRIORITY_WEIGHTS, n_conv)
    conversations: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    span = timedelta(days=90).total_seconds()
    mid = 0
    for cid in range(1, n_conv + 1):
        account = accounts[rng.randrange(len(accounts))]
        status = statuses[cid - 1]
        first = NOW - timedelta(seconds=rng.random() * span)
        times = sorted(first + timedelta(minutes=rng.random() * 600) for _ in range(per_conv))
        customer = rng.randint(1, n_customers)
        assigned = status != "new" and rng.random() < 0.85
        conversations.append(
            {
                "id": cid,
                "brand_id": account["brand_id"],
                "account_id": account["id"],
                "platform": account["platform"],
                "thread_key": f"t{cid}",
                "generation": 1,
                "customer_id": customer,
                "status": status,
                "priority": priorities[cid - 1],
                "assignee_id": rng.randint(1, 200) if assigned else None,
                "team_id": rng.randint(1, 20) if rng.random() < 0.9 else None,
                "labels": "[]",
                "language": rng.choice(LANGUAGES),
                "visibility": "public",
                "subject": f"Order problem {cid}",
                "first_message_at": times[0],
                "last_message_at": times[-1],
                "last_inbound_at": times[-2],
                "first_response_at": times[1],
                "waiting_since": None,
                "snoozed_until": NOW + timedelta(days=1) if status == "snoozed" else None,
                "resolved_at": times[-1] if status in ("resolved", "closed") else None,
                "message_count": per_conv,
                "sentiment": rng.choice(("negative", "neutral", "positive")),
                "issue_type": "order_status",
                "urgency": rng.randint(0, 100),
                "sla_policy_id": None,
                "first_response_due_at": None,
                "next_response_due_at": None,
                "resolution_due_at": None,
                "created_at": times[0],
            }
        )
        for k, at in enumerate(times):
            mid += 1
            inbound = k % 2 == 0
            messages.append(
                {
                    "id": mid,
                    "account_id": account["id"],
                    "platform": account["platform"],
                    "conversation_id": cid,
                    "customer_id": customer,
                    "direction": "inbound" if inbound else "outbound",
                    "kind": "message",
                    "external_id": f"m{mid}",
                    "thread_key": f"t{cid}",
                    "reply_to_external_id": f"m{mid - 1}" if k else None,
                    "author_external_id": f"u{customer}" if inbound else account["external_id"],
                    "author_handle": f"c{customer}" if inbound else account["handle"],
                    "author_name": "",
                    "text": "Where is my order? It was due last week and tracking has not moved.",
                    "is_public": True,
                    "sent_at": at,
                    "received_at": at,
                    "language": "en",
                    "sentiment": "negative",
                    "issue_type": "order_status",
                    "urgency": 40,
                    "triage": None,
                    "processed_at": at,
                    "delivery_status": "" if inbound else "sent",
                    "sent_by_agent_id": None,
                    "raw": None,
                }
            )
    return {
        "brand": brands,
        "social_account": accounts,
        "team": teams,
        "agent": agents,
        "customer": customers,
        "conversation": conversations,
        "message": messages,
    }


def sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


def load(engine, rows: dict[str, list[dict[str, Any]]]) -> float:

    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            for name, data in rows.items():
                columns = list(data[0])
                with cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in data:
                        copy.write_row([row[c] for c in columns])
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), {len(data)})")
            raw.commit()
            cur.execute("ANALYZE")
            raw.commit()
        finally:
            raw.close()
    else:
        # Plain sqlite3 executemany with values in the stored format (what UTCDateTime writes),
        # skipping SQLAlchemy's per-value bind processing.
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            for name, data in rows.items():
                columns = list(data[0])
                sql = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                for start in range(0, len(data), CHUNK):
                    cur.executemany(
                        sql, [[sqlite_value(r[c]) for c in columns] for r in data[start : start + CHUNK]]
                    )
            raw.commit()
            cur.execute("ANALYZE")
            raw.commit()
        finally:
            raw.close()
    return time.perf_counter() - started


# --- queries ----------------------------------------------------------------------------------------


def filters(rng: random.Random) -> dict[str, Callable[[], dict[str, Any]]]:
    return {
        "default inbox (new/open/pending)": lambda: {"status": ["new", "open", "pending"]},
        "open on one platform": lambda: {"status": ["open"], "platform": [rng.choice(PLATFORMS)]},
        "an agent's queue (open/pending)": lambda: {
            "assignee": str(rng.randint(1, 200)),
            "status": ["open", "pending"],
        },
        "unassigned new": lambda: {"assignee": "none", "status": ["new"]},
        "a team's open queue": lambda: {"team_id": rng.randint(1, 20), "status": ["open"]},
        "brand + urgent": lambda: {
            "brand": f"brand{rng.randint(1, 5)}",
            "priority": ["urgent"],
            "status": ["new", "open", "pending"],
        },
        "language + open": lambda: {"language": rng.choice(("de", "fr", "ja")), "status": ["open"]},
        "everything, newest first": lambda: {},
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[k]


def measure(
    call: Callable[[dict[str, Any]], int], make: Callable[[], dict[str, Any]], n: int
) -> dict[str, float]:
    for _ in range(3):
        call(make())  # warm caches and the plan cache
    samples = []
    rows = 0
    for _ in range(n):
        params = make()
        t = time.perf_counter()
        rows += call(params)
        samples.append((time.perf_counter() - t) * 1000)
    return {
        "p50": statistics.median(samples),
        "p95": percentile(samples, 95),
        "p99": percentile(samples, 99),
        "max": max(samples),
        "avg_rows": rows / n,
    }


def service_call(sessions) -> Callable[[dict[str, Any]], int]:
    from socialdesk.conversations.service import ConversationFilter, list_conversations

    def call(params: dict[str, Any]) -> int:
        with sessions() as session:
            page, _ = list_conversations(session, ConversationFilter(**params), limit=50)
            return len(page)

    return call


def http_call(base_url: str, token: str) -> tuple[Callable[[dict[str, Any]], int], Any]:
    import httpx

    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def call(params: dict[str, Any]) -> int:
        response = client.get("/api/v1/conversations", params={**params, "limit": 50})
        response.raise_for_status()
        return len(response.json()["items"])

    return call, client


def serve(url: str) -> tuple[str, Any]:
    import uvicorn

    from socialdesk.platforms.fake_server import free_port
    from socialdesk.web.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def run_backend(name: str, url: str, rows: dict[str, list[dict[str, Any]]], n: int) -> dict[str, Any]:
    from socialdesk.auth.service import create_token
    from socialdesk.config import get_settings
    from socialdesk.db.engine import get_engine, get_sessionmaker, reset_engine_cache
    from socialdesk.db.migrate import upgrade

    os.environ["SOCIALDESK_DATABASE_URL"] = url
    get_settings.cache_clear()
    reset_engine_cache()
    engine = get_engine()
    upgrade(engine)
    seconds = load(engine, rows)
    print(
        f"[{name}] loaded {len(rows['message']):,} messages / {len(rows['conversation']):,} conversations "
        f"in {seconds:.1f} s",
        flush=True,
    )
    sessions = get_sessionmaker()
    with sessions() as session:
        token = create_token(session, "bench", role="admin")
        session.commit()
    base_url, server = serve(url)
    call_http, client = http_call(base_url, token)
    call_service = service_call(sessions)
    results: dict[str, Any] = {}
    rng = random.Random(SEED)
    for label, make in filters(rng).items():
        results[label] = {"service": measure(call_service, make, n), "http": measure(call_http, make, n)}
        s, h = results[label]["service"], results[label]["http"]
        print(
            f"[{name}] {label:<34} service p50 {s['p50']:6.2f} p95 {s['p95']:6.2f} ms | "
            f"http p50 {h['p50']:6.2f} p95 {h['p95']:6.2f} p99 {h['p99']:6.2f} ms | rows {h['avg_rows']:.0f}",
            flush=True,
        )
    client.close()
    server.should_exit = True
    reset_engine_cache()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0 = 1,000,000 messages / 200,000 conversations"
    )
    parser.add_argument("--db", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--queries", type=int, default=100, help="timed calls per filter and path")
    parser.add_argument(
        "--pg-url", default="", help="an empty PostgreSQL database (default: start a throwaway one)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    import logging

    logging.disable(logging.INFO)
    t = time.perf_counter()
    rows = build_rows(args.scale)
    print(
        f"size: scale {args.scale} = {len(rows['message']):,} messages, {len(rows['conversation']):,} "
        f"conversations, {len(rows['customer']):,} customers, 200 agents, 20 teams, 5 brands, 25 accounts "
        f"(generated in {time.perf_counter() - t:.1f} s); {args.queries} timed calls per filter and path; "
        f"first page = 50 rows",
        flush=True,
    )
    report: dict[str, Any] = {
        "scale": args.scale,
        "messages": len(rows["message"]),
        "conversations": len(rows["conversation"]),
        "backends": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="socialdesk-inbox-bench-"))
    os.environ["SOCIALDESK_DATA_DIR"] = str(workdir)
    # Measure the inbox alone: no SLA scans or outbox sender threads in the served app.
    os.environ["SOCIALDESK_BACKGROUND_JOBS"] = "0"
    for backend in args.db:
        if backend == "sqlite":
            url = f"sqlite:///{workdir / 'inbox.db'}"
            report["backends"]["sqlite"] = run_backend("sqlite", url, rows, args.queries)
        else:
            server = None
            url = args.pg_url
            if not url:
                from tests.services import PostgresServer

                server = PostgresServer()
                url = server.url
            try:
                report["backends"]["postgresql"] = run_backend("postgresql", url, rows, args.queries)
            finally:
                if server is not None:
                    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    load1, load5, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load1:.1f} (1 min) {load5:.1f} (5 min) at the end")
    print()
    print("summary (p95 over all filters, target < 50 ms):")
    for backend, results in report["backends"].items():
        for path in ("service", "http"):
            worst = max(r[path]["p95"] for r in results.values())
            label = max(results, key=lambda k: results[k][path]["p95"])
            print(
                f"  {backend:<10} {path:<7} worst p95 {worst:6.2f} ms ({label})  "
                f"{'OK' if worst < 50 else 'OVER TARGET'}"
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str))
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
