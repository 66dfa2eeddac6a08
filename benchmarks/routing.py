"""Routing decision latency with 200 agents and 10,000 open conversations (target p99 < 5 ms).

    .venv/bin/python benchmarks/routing.py [--agents 200] [--open 10000] [--decisions 2000]
        [--db sqlite postgresql] [--pg-url postgresql://...]

The desk: 20 teams (languages × platforms, one senior), 200 agents (10 per team, ~70% online,
capacities 20–60), 10,000 open conversations assigned across them (so capacity checks count
real rows through the ``(assignee_id, status)`` index). Each measured decision routes a fresh
conversation of random language/platform/urgency: ``decide`` (team choice, eligible agents,
capacity count, round-robin pick; read-only) and ``route`` (the decision plus the claim of
the agent and the assignment write: event, flush). The statements each sends are counted.
Without ``--pg-url`` a throwaway PostgreSQL is started.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.services (throwaway PostgreSQL)

LANGUAGES = ("en", "de", "fr", "es", "it")
PLATFORMS = ("x", "instagram", "facebook", "whatsapp")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def build(session, agents: int, open_conversations: int, rng: random.Random):
    from socialdesk.brands.models import Brand, SocialAccount
    from socialdesk.conversations.models import Conversation
    from socialdesk.routing.models import Agent, Team
    from socialdesk.routing.settings import get_config

    brand = Brand(slug="bench", name="Bench")
    accounts = {p: SocialAccount(brand=brand, platform=p, slug=f"bench-{p}") for p in PLATFORMS}
    session.add_all([brand, *accounts.values()])
    teams = [Team(slug="senior", name="Senior", is_senior=True)]
    for lang in LANGUAGES:
        for platform in PLATFORMS[:3] if lang != "en" else PLATFORMS:
            teams.append(
                Team(
                    slug=f"{lang}-{platform}",
                    name=f"{lang} {platform}",
                    languages=[lang],
                    platforms=[platform],
                )
            )
    teams = teams[:20]
    session.add_all(teams)
    session.flush()
    people = []
    for i in range(agents):
        team = teams[i % len(teams)]
        a = Agent(
            email=f"a{i}@bench.example",
            name=f"Agent {i}",
            languages=list(team.languages) or list(LANGUAGES),
            platforms=list(team.platforms),
            capacity=rng.randint(20, 60),
            availability="online" if rng.random() < 0.7 else rng.choice(("away", "offline")),
        )
        a.teams = [team]
        people.append(a)
    session.add_all(people)
    session.flush()
    get_config(session)
    rows = []
    for i in range(open_conversations):
        a = people[i % len(people)]
        platform = a.platforms[0] if a.platforms else rng.choice(PLATFORMS)
        rows.append(
            {
                "brand_id": brand.id,
                "account_id": accounts[platform].id,
                "platform": platform,
                "thread_key": f"open-{i}",
                "status": rng.choice(("new", "open", "open", "pending")),
                "assignee_id": a.id,
                "team_id": a.teams[0].id,
                "language": a.languages[0],
            }
        )
    session.execute(Conversation.__table__.insert(), rows)
    session.commit()
    return brand, accounts


def measure(url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    from sqlalchemy import event, text
    from sqlalchemy.orm import Session

    from socialdesk.conversations.models import Conversation
    from socialdesk.db.engine import make_engine
    from socialdesk.db.migrate import upgrade
    from socialdesk.routing import service

    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(11)
    with Session(engine) as session:
        brand, accounts = build(session, args.agents, args.open, rng)
        brand_id = brand.id
        account_ids = {p: a.id for p, a in accounts.items()}
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    results: dict[str, list[float]] = {"decide": [], "decide_cpu": [], "route": []}
    statements = [0]

    def count(*_: object) -> None:
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    queries = {"decide": 0, "route": 0}
    with Session(engine) as session:
        for i in range(args.decisions + 50):
            platform = rng.choice(PLATFORMS)
            c = Conversation(
                brand_id=brand_id,
                account_id=account_ids[platform],
                platform=platform,
                thread_key=f"new-{i}",
                status="new",
                language=rng.choice(LANGUAGES),
                urgency=rng.choice((0, 10, 30, 50, 90)),
            )
            session.add(c)
            session.flush()
            c0 = time.thread_time()
            s0 = statements[0]
            t0 = time.perf_counter()
            service.decide(session, c)
            t1 = time.perf_counter()
            c1 = time.thread_time()
            s1 = statements[0]
            service.route(session, c)
            session.flush()
            t2 = time.perf_counter()
            if i >= 50:  # warm-up excluded
                queries["decide"] += s1 - s0
                queries["route"] += statements[0] - s1
                results["decide"].append((t1 - t0) * 1000)
                results["decide_cpu"].append((c1 - c0) * 1000)
                results["route"].append((t2 - t1) * 1000)
            if i % 200 == 0:
                session.commit()
        session.rollback()
    engine.dispose()
    figures = {
        name: {"p50": statistics.median(v), "p95": pct(v, 95), "p99": pct(v, 99), "max": max(v)}
        for name, v in results.items()
    }
    for name, n in queries.items():
        figures[name]["queries"] = n / args.decisions
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--open", type=int, default=10_000, help="open conversations already assigned")
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--db", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--pg-url", default="")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sd-routing-bench-"))
    os.environ["SOCIALDESK_DATA_DIR"] = str(workdir)
    print(
        f"routing benchmark: {args.agents} agents, {args.open} open conversations, {args.decisions} decisions"
    )
    print(f"  machine: {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}")
    print("  decide = wall-clock latency of one decision; decide_cpu = this thread's CPU time for it")
    print("  (on a shared machine the difference is time spent waiting for a core); route adds the write")
    for backend in args.db:
        print(f"  [{backend}] load average now {os.getloadavg()[0]:.1f}")
        server = None
        if backend == "sqlite":
            url = f"sqlite:///{workdir / 'routing.db'}"
        else:
            url = args.pg_url
            if not url:
                from tests.services import PostgresServer

                server = PostgresServer()
                url = server.url
        try:
            figures = measure(url, args)
        finally:
            if server is not None:
                server.stop()
        for name, f in figures.items():
            verdict = (
                ""
                if name != "decide"
                else ("  (target p99 < 5 ms: " + ("met" if f["p99"] < 5 else "MISSED") + ")")
            )
            queries = f"  ({f['queries']:.1f} statements each)" if "queries" in f else ""
            print(
                f"  {backend:<10} {name:<10} p50 {f['p50']:6.2f} ms  p95 {f['p95']:6.2f} ms  "
                f"p99 {f['p99']:6.2f} ms  max {f['max']:6.2f} ms{verdict}{queries}"
            )


if __name__ == "__main__":
    main()
