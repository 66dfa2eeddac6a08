"""`socialdesk outbox send` and `socialdesk outbox list` on a migrated database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from socialdesk.cli import app
from socialdesk.conversations.models import Message
from socialdesk.db.engine import make_engine
from socialdesk.db.migrate import upgrade
from socialdesk.outbox import service
from socialdesk.platforms.fake_server import running_fake_server
from tests.outbox import factories as f


@pytest.fixture
def db_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    engine = make_engine(url)
    upgrade(engine)  # the CLI migrates too; starting from the real schema keeps it a no-op
    engine.dispose()
    return url


def test_send_once_delivers_what_is_due_and_list_shows_it(session):
    runner = CliRunner()
    with running_fake_server() as fake:
        conversation = f.conversation(session, platform="telegram", public=False, api_base_url=fake.base_url)
        message = service.queue_reply(session, conversation, "Thanks, sorted!", actor=None)
        session.commit()
        result = runner.invoke(app, ["outbox", "send"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output.strip().splitlines()[-1])["sent"] == 1
        assert len(fake.requests) == 1
    session.expire_all()
    assert session.scalars(select(Message.delivery_status).where(Message.id == message.id)).one() == "sent"
    listed = runner.invoke(app, ["outbox", "list", "--state", "sent"])
    assert listed.exit_code == 0 and "telegram" in listed.output and " sent " in listed.output


def test_list_refuses_an_unknown_state():
    result = CliRunner().invoke(app, ["outbox", "list", "--state", "lost"])
    assert result.exit_code == 2
    assert "unknown state 'lost'" in result.output


def test_the_background_sender_delivers_without_being_asked(session):
    import time

    from socialdesk.outbox.sender import start_background_sender

    with running_fake_server() as fake:
        conversation = f.conversation(session, platform="telegram", public=False, api_base_url=fake.base_url)
        message = service.queue_reply(session, conversation, "Done!", actor=None)
        session.commit()
        stop = start_background_sender(interval=0.1)
        try:
            deadline = time.monotonic() + 15
            status = "queued"
            while status != "sent" and time.monotonic() < deadline:
                time.sleep(0.05)
                session.expire_all()
                status = session.get(Message, message.id).delivery_status
        finally:
            stop.set()
        assert status == "sent"
        assert len(fake.requests) == 1
