"""Listening counters under concurrency: atomic upserts, exactly once per message, sharded rows.

Several threads and several processes increment the same minute rows of one brand at once, on
SQLite and PostgreSQL; every message is delivered to every worker (redelivery), yet each is
counted exactly once, and the readers (spike detection's range sums) see the exact totals.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import column, create_engine, event, func, insert, inspect, select, table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from socialdesk.conversations.models import Message
from socialdesk.db.base import utcnow
from socialdesk.db.engine import make_engine
from socialdesk.db.migrate import alembic_config
from socialdesk.listening import service
from socialdesk.listening.models import COUNT_SHARDS, SeriesCount
from tests import factories
from tests.listening.factories import message, seed_counts

NOW = datetime(2026, 11, 16, 14, 0, 30, tzinfo=UTC)
MINUTE = NOW.replace(second=0)


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def _retrying(url: str, work, tries: int = 50) -> None:
    """Run work(session) in one transaction; retry where the database refuses a concurrent writer
    (SQLite: "database is locked" when a reader's snapshot went stale; PostgreSQL: a deadlock)."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        for attempt in range(tries):
            session = Session(engine)
            try:
                work(session)
                session.commit()
                return
            except DBAPIError:
                session.rollback()
                if attempt == tries - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
            finally:
                session.close()
    finally:
        engine.dispose()


def _deliver(session: Session, message_id: int) -> None:
    """What the worker does with one queue entry: lock the message, skip it if processed, run the
    step and mark it processed in the same transaction."""
    msg = session.scalar(select(Message).where(Message.id == message_id).with_for_update())
    if msg is None or msg.processed_at is not None:
        return
    service.listening_step(session, msg)
    msg.processed_at = utcnow()


def _worker_process(url: str, message_ids: list[int], barrier_path: str) -> None:
    """A worker process: wait for the others, then take every delivery in order."""
    deadline = time.monotonic() + 60
    while not __import__("os").path.exists(barrier_path) and time.monotonic() < deadline:
        time.sleep(0.005)
    for mid in message_ids:
        _retrying(url, lambda s, mid=mid: _deliver(s, mid))


def _total(session: Session, series: str) -> int:
    return service.DbCounts(session).total(series, MINUTE - timedelta(hours=1), MINUTE + timedelta(hours=1))


def _stored_messages(session: Session, n: int) -> tuple[int, int, list[int]]:
    """n unprocessed inbound messages of one brand in the same minute, and a rule matching all."""
    acct = factories.account(session, handle="AcmeCare")
    rule = service.create_rule(session, brand=acct.brand.slug, name="orders", query="order")
    ids = [
        message(session, acct, f"where is my order {i}", NOW, run_step=False, sentiment="negative").id
        for i in range(n)
    ]
    session.commit()
    return acct.brand_id, rule.id, ids


def test_increments_from_many_threads_on_one_row_add_up_exactly(session, db_url):
    threads, per_thread = 6, 25
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                # Half the increments on one shard (the hottest row there can be), half spread.
                shard = 0 if i % 2 else t + i
                _retrying(
                    db_url,
                    lambda s, shard=shard: service.DbCounts(s).add_many(
                        ["brand:1:all", "rule:1"], NOW, shard=shard
                    ),
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert errors == []
    session.expire_all()
    assert _total(session, "brand:1:all") == threads * per_thread
    assert _total(session, "rule:1") == threads * per_thread
    shards = session.scalars(select(SeriesCount.shard).where(SeriesCount.series == "rule:1")).all()
    assert set(shards) <= set(range(COUNT_SHARDS)) and len(shards) > 1


def test_worker_processes_count_every_message_once_though_each_is_delivered_to_all(session, db_url, tmp_path):
    brand_id, rule_id, ids = _stored_messages(session, 60)
    barrier = tmp_path / "go"
    ctx = multiprocessing.get_context("spawn")
    # Every process gets every message (three deliveries each, racing), in different orders.
    orders = [ids, ids[::-1], ids[len(ids) // 2 :] + ids[: len(ids) // 2]]
    procs = [ctx.Process(target=_worker_process, args=(db_url, o, str(barrier))) for o in orders]
    for p in procs:
        p.start()
    time.sleep(0.5)
    barrier.touch()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    session.expire_all()
    assert session.scalar(select(func.count(Message.id)).where(Message.processed_at.is_(None))) == 0
    for series in (f"brand:{brand_id}:all", f"brand:{brand_id}:negative", f"rule:{rule_id}"):
        assert _total(session, series) == len(ids), series


def test_a_redelivered_processed_message_is_not_counted_again(session, db_url):
    brand_id, rule_id, ids = _stored_messages(session, 3)
    for mid in ids:
        _retrying(db_url, lambda s, mid=mid: _deliver(s, mid))
    for mid in ids:  # the same entries again: a reclaimed entry whose first worker had committed
        _retrying(db_url, lambda s, mid=mid: _deliver(s, mid))
    session.expire_all()
    msg = session.get(Message, ids[0])
    service.listening_step(session, msg)  # the step itself also skips a processed message
    assert _total(session, f"brand:{brand_id}:all") == 3
    assert _total(session, f"rule:{rule_id}") == 3


def test_a_message_that_rolls_back_leaves_no_count(session, db_url):
    brand_id, _, ids = _stored_messages(session, 1)

    def fails(s: Session) -> None:
        _deliver(s, ids[0])
        raise RuntimeError("routing failed")

    with pytest.raises(RuntimeError):
        _retrying(db_url, fails)
    session.expire_all()
    assert _total(session, f"brand:{brand_id}:all") == 0
    _retrying(db_url, lambda s: _deliver(s, ids[0]))
    session.expire_all()
    assert _total(session, f"brand:{brand_id}:all") == 1


def test_readers_sum_the_shards_in_one_statement(session):
    counts = service.DbCounts(session)
    for shard in range(COUNT_SHARDS):
        for m in range(0, 30, 3):
            counts.add("rule:5", MINUTE - timedelta(minutes=m), n=shard + 1, shard=shard)
    seed_counts(session, "rule:5", MINUTE - timedelta(minutes=40), 1, 7)  # a pre-shard row (shard 0)
    per_minute = sum(range(1, COUNT_SHARDS + 1))
    ranges = [(MINUTE - timedelta(minutes=b), MINUTE - timedelta(minutes=a)) for a, b in [(0, 10), (-1, 41)]]
    statements: list[str] = []
    engine = session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        totals = counts.totals("rule:5", ranges)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) == 1
    # minutes 0, 3, 6, 9 ago lie in (now-10, now]; the first range is [now-10, now).
    assert totals == [3 * per_minute, 10 * per_minute + 7]
    assert counts.total("rule:5", ranges[1][0], ranges[1][1]) == totals[1]
    assert counts.history_start("rule:5") == MINUTE - timedelta(minutes=40)


@pytest.fixture
def empty_url(request, tmp_path, db_url):
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'old.db'}"
    server = request.getfixturevalue("postgres_server")
    admin = create_engine(
        server.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    name = f"lc_{abs(hash(str(tmp_path))) % 10**8}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


def _migrate(engine, action, target: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        action(cfg, target)


def test_the_shard_migration_keeps_existing_counts_and_folds_them_back_on_downgrade(empty_url):
    engine = make_engine(empty_url)
    _migrate(engine, command.upgrade, "0300")
    # A pre-0310 table: no shard column (written through a plain table of the old columns).
    old = table(
        "listening_count",
        column("series"),
        column("bucket", SeriesCount.__table__.c.bucket.type),
        column("count"),
    )
    with engine.begin() as conn:
        conn.execute(
            insert(old),
            [
                {"series": "brand:1:all", "bucket": MINUTE, "count": 5},
                {"series": "rule:2", "bucket": MINUTE - timedelta(minutes=1), "count": 3},
            ],
        )
    # As `alembic upgrade heads` runs it (Alembic owns the transaction: PostgreSQL builds the new
    # key's index CONCURRENTLY); the re-upgrade below runs inside a caller's transaction instead.
    command.upgrade(alembic_config(empty_url), "heads")
    with Session(engine) as s:
        assert s.execute(
            select(SeriesCount.series, SeriesCount.shard, SeriesCount.count).order_by(SeriesCount.series)
        ).all() == [("brand:1:all", 0, 5), ("rule:2", 0, 3)]
        counts = service.DbCounts(s)
        counts.add("brand:1:all", NOW, shard=0)
        counts.add("brand:1:all", NOW, shard=3)
        s.commit()
        assert counts.total("brand:1:all", MINUTE, MINUTE + timedelta(minutes=1)) == 7
    _migrate(engine, command.downgrade, "0310-1")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT series, count FROM listening_count ORDER BY series")).all()
    assert [tuple(r) for r in rows] == [("brand:1:all", 7), ("rule:2", 3)]
    _migrate(engine, command.upgrade, "heads")
    pk = inspect(engine).get_pk_constraint("listening_count")
    assert pk["constrained_columns"] == ["series", "bucket", "shard"]
    assert pk["name"] == "pk_listening_count" or engine.dialect.name == "sqlite"
    assert [i["name"] for i in inspect(engine).get_indexes("listening_count")] == []
    engine.dispose()
