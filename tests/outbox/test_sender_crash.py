"""A sender process killed between the platform's answer and the record step sends nothing twice.

A real ``python -m socialdesk.outbox.sender`` subprocess sends to the local fake platform
server, is SIGKILLed at the marker it prints right after the platform answered, and a fresh
sender then reconciles the stale claim.
"""

from __future__ import annotations

import os
import select as io_select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from socialdesk.conversations.models import Conversation, Message
from socialdesk.outbox import service
from socialdesk.outbox.models import OutboxItem
from socialdesk.outbox.sender import PAUSE_ENV, PAUSE_MARKER
from socialdesk.platforms.fake_server import running_fake_server
from tests.outbox import factories as f


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def sender_process(db_url: str, data_dir: Path, **extra: str) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if k != PAUSE_ENV},
        "SOCIALDESK_DATABASE_URL": db_url,
        "SOCIALDESK_DATA_DIR": str(data_dir),
        "SOCIALDESK_OUTBOX_LEASE_SECONDS": "1",
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "socialdesk.outbox.sender"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen[str], marker: str, timeout: float = 60) -> list[str]:
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = io_select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            seen.append(line.rstrip())
            if marker in line:
                return seen
    proc.kill()
    raise AssertionError(f"sender never printed {marker!r}; output: {seen}")


@pytest.mark.slow
def test_killed_between_send_and_record_the_restarted_sender_does_not_post_twice(session, db_url, tmp_path):
    with running_fake_server() as fake:
        conversation = f.conversation(session, platform="x", api_base_url=fake.base_url)
        message = service.queue_reply(session, conversation, "Sorry about that, looking now.", actor=None)
        session.commit()
        item_id = session.scalars(select(OutboxItem.id).where(OutboxItem.message_id == message.id)).one()

        doomed = sender_process(db_url, tmp_path, **{PAUSE_ENV: "60"})
        wait_for_line(doomed, PAUSE_MARKER)
        os.kill(doomed.pid, signal.SIGKILL)
        assert doomed.wait(timeout=10) == -signal.SIGKILL

        # The platform posted it; our database does not know yet.
        assert len(fake.requests) == 1
        session.expire_all()
        item = session.get(OutboxItem, item_id)
        assert item.state == "sending" and item.external_id is None
        assert session.get(Message, message.id).external_id.startswith("outbox:")

        time.sleep(1.2)  # the killed sender's claim (lease 1 s) expires
        restarted = sender_process(db_url, tmp_path)
        output, _ = restarted.communicate(timeout=60)
        assert restarted.returncode == 0, output
        assert '"sent": 1' in output

        # Sent again with the same key, so the platform answered with the first post's id...
        keys = [r["headers"]["idempotency-key"] for r in fake.requests]
        assert len(keys) == 2 and len(set(keys)) == 1
        assert len(fake.state.by_key) == 1
        (status, answer) = fake.state.by_key[keys[0]]
        first_post_id = answer["data"]["id"]
        # ...and exactly one post exists on the platform.
        assert next(fake.state.counter) == 2

        session.expire_all()
        item = session.get(OutboxItem, item_id)
        stored = session.get(Message, message.id)
        assert (item.state, item.external_id, item.attempts) == ("sent", first_post_id, 2)
        assert (stored.external_id, stored.delivery_status) == (first_post_id, "sent")
        assert session.get(Conversation, conversation.id).message_count == 2  # counted once
