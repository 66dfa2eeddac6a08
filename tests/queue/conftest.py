"""Queue tests run on a real PostgreSQL and a real Redis, each test on a stream of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from socialdesk.queue import set_queue
from socialdesk.queue.redis_streams import RedisStreamQueue, warm_up
from tests.queue.factories import make_queue


@pytest.fixture(scope="session")
def warm_triage() -> None:
    """Load the triage models once, so no first message outlives the short test claim timeout."""
    warm_up()


@pytest.fixture
def db_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def queue(settings: object, redis_server, warm_triage: None) -> Iterator[RedisStreamQueue]:
    if redis_server.proc.poll() is not None:  # a test before stopped it and failed
        redis_server.start()
    q = make_queue(redis_server.url)
    set_queue(q)
    yield q
    set_queue(None)
