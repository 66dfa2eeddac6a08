"""SIGTERM to `socialdesk worker`: the message in hand is finished, the rest of the batch given back."""

from __future__ import annotations

import signal
import sys
import time
import uuid

import pytest
from sqlalchemy import func, select

from socialdesk.conversations.models import Message
from socialdesk.queue.redis_streams import QueueSettings, RedisStreamQueue
from tests import factories
from tests.queue.factories import store_messages
from tests.scale.conftest import worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

SLOW_WORKER = """
import time
from socialdesk import pipeline
def slow(session, message):
    time.sleep(0.3)
pipeline.STEPS[:] = [slow]
from socialdesk.cli import app
app(["worker", "--concurrency", "2"])
"""


def test_sigterm_finishes_in_hand_work_and_returns_the_rest(session, db_url, redis_server, workers):
    if redis_server.proc.poll() is not None:
        redis_server.start()
    stream = f"term:{uuid.uuid4().hex[:8]}"
    queue = RedisStreamQueue(redis_server.url, QueueSettings(url=redis_server.url, stream=stream))
    queue.ensure_group()
    account = factories.account(session)
    ids = store_messages(session, account, [f"late parcel {i}" for i in range(40)])
    queue.enqueue(ids)

    group = workers(worker_env(db_url, redis_server.url, stream, batch_size="10"))
    group.command = [sys.executable, "-c", SLOW_WORKER]
    parent = group.start()
    deadline = time.monotonic() + 60
    while queue.stats().pending < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue.stats().pending >= 2  # both consumers hold a batch

    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=20) == 0

    stats = queue.stats()
    assert stats.pending == 0  # nothing left stuck on the stopped consumers
    session.expire_all()
    done = session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.id.in_(ids), Message.processed_at.is_not(None))
    )
    assert 1 <= done < 40
    assert done + stats.lag == 40  # every unfinished message is back on the stream, none lost
