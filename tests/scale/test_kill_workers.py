"""Worker processes killed with SIGKILL mid-batch: every message is processed exactly once in effect.

10,000 messages must fit the time budget on two shared cores, so the worker processes run the
pipeline reduced to one deliberately *non-idempotent* step: it inserts a row per run into an
``effects`` table. If a redelivery after a kill ran the pipeline again on a message whose first
run had committed, that message would have two effect rows. The full pipeline through worker
processes is covered by tests/scale/test_faults.py with fewer messages.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sys
import time
import uuid

import pytest
from sqlalchemy import func, select, text

from socialdesk.conversations.models import Message
from socialdesk.queue.redis_streams import QueueSettings, RedisStreamQueue
from tests import factories
from tests.scale.conftest import worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

MESSAGES = int(os.environ.get("SOCIALDESK_KILL_TEST_MESSAGES", "10000"))
KILLS = 4

# The `socialdesk worker` command with the pipeline swapped for the effect-recording step.
WORKER_PROGRAM = """
from sqlalchemy import text
from socialdesk import pipeline
def record_effect(session, message):
    session.execute(text("INSERT INTO effects (message_id) VALUES (:m)"), {"m": message.id})
pipeline.STEPS[:] = [record_effect]
from socialdesk.cli import app
app(["worker"])
"""


def test_sigkilled_workers_lose_nothing_and_duplicate_nothing(session, db_url, redis_server, workers):
    if redis_server.proc.poll() is not None:
        redis_server.start()
    stream = f"kill:{uuid.uuid4().hex[:8]}"
    queue = RedisStreamQueue(redis_server.url, QueueSettings(url=redis_server.url, stream=stream))
    queue.ensure_group()
    account = factories.account(session)
    session.execute(text("CREATE TABLE effects (id serial PRIMARY KEY, message_id integer NOT NULL)"))
    session.execute(
        text(
            "INSERT INTO message (account_id, platform, direction, kind, external_id, thread_key, "
            "author_external_id, author_handle, author_name, text, is_public, sent_at, received_at, "
            "language, sentiment, issue_type, delivery_status) "
            "SELECT :account, 'x', 'inbound', 'message', 'kill-' || n, 'kill-' || n, 'u' || n, '', '', "
            "'my order never arrived', true, now(), now(), '', '', '', '' FROM generate_series(1, :n) n"
        ),
        {"account": account.id, "n": MESSAGES},
    )
    session.commit()
    ids = list(
        session.scalars(select(Message.id).where(Message.account_id == account.id).order_by(Message.id))
    )
    for start in range(0, len(ids), 1000):
        queue.enqueue(ids[start : start + 1000])
    assert len(ids) == MESSAGES

    env = worker_env(db_url, redis_server.url, stream, claim_idle_ms="1500", max_tries="50", batch_size="20")
    group = workers(env)
    group.command = [sys.executable, "-c", WORKER_PROGRAM]
    for _ in range(3):
        group.start()

    rng = random.Random(8)
    kills_mid_batch = 0
    deadline = time.monotonic() + 150
    while (queue.stats().pending or queue.stats().lag) and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.5, 2.0))
        if kills_mid_batch >= KILLS:
            continue
        victim = rng.choice([p for p in group.procs if p.poll() is None])
        prefix = f"{socket.gethostname()}-{victim.pid}-"
        holding = [
            c
            for c in queue.redis.xinfo_consumers(stream, queue.group)
            if c["name"].startswith(prefix) and int(c["pending"]) > 0
        ]
        if not holding:
            continue  # starting, or between batches: not a mid-batch kill
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        kills_mid_batch += 1
        group.start()  # the operator's supervisor restarts it

    stats = queue.stats()
    assert (stats.lag, stats.pending) == (0, 0), f"not drained in time: {stats}"
    assert kills_mid_batch == KILLS

    session.expire_all()
    done = session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.id.in_(ids), Message.processed_at.is_not(None))
    )
    assert done == MESSAGES  # nothing lost
    effects, distinct = session.execute(
        text("SELECT count(*), count(DISTINCT message_id) FROM effects")
    ).one()
    assert (effects, distinct) == (MESSAGES, MESSAGES)  # each message's run committed exactly once
    assert queue.stats().dead_letters == 0
