"""Faults under load: Redis restarting during ingestion, PostgreSQL unavailable while workers run."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from socialdesk.config import get_settings
from socialdesk.conversations.models import Message
from socialdesk.db.engine import get_engine, reset_engine_cache
from socialdesk.db.models import Base
from socialdesk.queue import set_queue
from tests import factories
from tests.queue.factories import make_queue, store_messages, telegram_account, telegram_update
from tests.services import PostgresServer, _as_postgres_user

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_redis_restart_during_ingestion_loses_and_duplicates_nothing(session, client, redis_server):
    from tests.queue.conftest import warm_up

    warm_up()
    if redis_server.proc.poll() is not None:
        redis_server.start()
    queue = make_queue(redis_server.url)
    set_queue(queue)
    telegram_account(session, "care")
    deliveries = [telegram_update(f"order {i} is late", chat_id=9000 + i) for i in range(80)]
    outcomes: list[int] = []

    def platform() -> None:  # delivers one after another, as a platform does
        for body, headers in deliveries:
            outcomes.append(client.post("/webhooks/telegram/care", content=body, headers=headers).status_code)
            time.sleep(0.01)

    sender = threading.Thread(target=platform)
    sender.start()
    assert wait_for(lambda: len(outcomes) >= 20, 30)
    redis_server.stop()
    time.sleep(1.0)
    redis_server.start()
    sender.join(60)

    assert set(outcomes) <= {200, 503}
    failed = [d for d, status in zip(deliveries, outcomes, strict=True) if status == 503]
    assert failed, "Redis was down for a second: some deliveries must have been refused"
    # The platform retries what was refused; every retry is accepted (stored before, or now).
    for body, headers in failed:
        assert client.post("/webhooks/telegram/care", content=body, headers=headers).status_code == 200

    queue.run_worker_thread("after-restart")
    total = select(func.count()).select_from(Message)
    done = select(func.count()).select_from(Message).where(Message.processed_at.is_not(None))
    assert wait_for(lambda: session.scalar(done) == 80, 60), session.scalar(done)
    assert session.scalar(total) == 80
    assert queue.stats().dead_letters == 0


class RestartablePostgres:
    """A PostgreSQL server of this test's own, so stopping it disturbs no other test."""

    def __init__(self) -> None:
        self.server = PostgresServer()
        self.url = self.server.url.rsplit("/", 1)[0] + "/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres_user([self.server.pg_ctl, "-D", str(self.server.data), *args]),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        opts = (
            f"-p {self.server.port} -k {self.server.dir} -c fsync=off -c synchronous_commit=off "
            "-c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        self._ctl("-o", opts, "-l", str(self.server.dir / "log"), "-w", "start")


@pytest.fixture
def own_postgres(monkeypatch, tmp_path) -> Iterator[RestartablePostgres]:
    try:
        pg = RestartablePostgres()
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"PostgreSQL is not available: {exc}")
    monkeypatch.setenv("SOCIALDESK_DATABASE_URL", pg.url)
    monkeypatch.setenv("SOCIALDESK_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    reset_engine_cache()
    Base.metadata.create_all(get_engine())
    yield pg
    set_queue(None)
    reset_engine_cache()
    get_settings.cache_clear()
    pg.server.stop()


def test_workers_back_off_while_postgresql_is_down_and_resume_without_losing_anything(
    own_postgres, redis_server
):
    from socialdesk.db.engine import get_sessionmaker
    from tests.queue.conftest import warm_up

    warm_up()
    if redis_server.proc.poll() is not None:
        redis_server.start()
    session = get_sessionmaker()()
    account = factories.account(session)
    session.commit()
    ids = store_messages(session, account, [f"is my refund {i} coming?" for i in range(40)])
    session.close()
    queue = make_queue(redis_server.url, max_tries=3)
    set_queue(queue)

    own_postgres.stop()
    queue.enqueue(ids)
    worker = queue.run_worker_thread("outage")
    time.sleep(3.0)  # several retries' worth of backing off
    stats = queue.stats()
    assert worker.processed == 0
    assert stats.pending + stats.lag == 40  # nothing acknowledged while nothing could commit
    assert stats.dead_letters == 0  # an outage is not the messages' fault

    own_postgres.start()
    assert queue.drain(timeout=60)
    session = get_sessionmaker()()
    done = session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.id.in_(ids), Message.processed_at.is_not(None))
    )
    session.close()
    assert done == 40
    assert queue.stats().dead_letters == 0
