"""SLA warnings and breaches from the periodic ticker, on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from socialdesk.conversations.models import ConversationEvent
from socialdesk.routing.models import SlaAlert, SlaPolicy
from socialdesk.routing.settings import update_config
from socialdesk.routing.sla import apply_sla, check_sla
from tests.routing import factories as f


def policy(session, **kw) -> SlaPolicy:
    p = SlaPolicy(name="standard", platform="", priority="", **kw)
    session.add(p)
    session.flush()
    return p


@pytest.fixture
def db_url(any_db_url):
    return any_db_url


def alerts(session, c):
    return [
        (e.kind, e.data["target"])
        for e in session.scalars(
            select(ConversationEvent)
            .where(
                ConversationEvent.conversation_id == c.id,
                ConversationEvent.kind.in_(("sla_warning", "sla_breach")),
            )
            .order_by(ConversationEvent.id)
        )
    ]


def test_a_warning_fires_before_the_breach_and_each_fires_once(session):
    update_config(session, sla_warning_minutes=10)
    policy(session, first_response_minutes=60)
    c = f.conversation(session, at=f.T0)
    apply_sla(session, c)
    assert check_sla(session, f.T0 + timedelta(minutes=30)) == []
    fired = check_sla(session, f.T0 + timedelta(minutes=52))
    assert [(x.kind, x.target) for x in fired] == [("sla_warning", "first_response")]
    assert check_sla(session, f.T0 + timedelta(minutes=55)) == []  # once per cycle
    fired = check_sla(session, f.T0 + timedelta(minutes=61))
    assert [(x.kind, x.target) for x in fired] == [("sla_breach", "first_response")]
    assert check_sla(session, f.T0 + timedelta(minutes=90)) == []
    assert alerts(session, c) == [("sla_warning", "first_response"), ("sla_breach", "first_response")]
    session.commit()
    assert session.scalar(select(SlaAlert.due_at).where(SlaAlert.kind == "sla_breach")) == f.T0 + timedelta(
        hours=1
    )


def test_a_reply_in_time_means_no_breach(session):
    policy(session, first_response_minutes=60)
    c = f.conversation(session, at=f.T0)
    apply_sla(session, c)
    f.event(session, c, "message_out", f.T0 + timedelta(minutes=20))
    assert check_sla(session, f.T0 + timedelta(hours=5)) == []
    assert alerts(session, c) == []


def test_status_changes_made_elsewhere_are_picked_up_by_the_ticker(session):
    policy(session, resolution_minutes=60)
    c = f.conversation(session, at=f.T0)
    apply_sla(session, c)
    check_sla(session, f.T0)  # the ticker has now seen the history so far
    # Another process parks the conversation as pending without touching the due columns.
    c.status = "pending"
    f.event(session, c, "status_changed", f.T0 + timedelta(minutes=30), **{"from": "open", "to": "pending"})
    assert check_sla(session, f.T0 + timedelta(hours=3)) == []
    assert c.resolution_due_at is None


def test_the_background_loop_fires_breaches_until_stopped(session):
    import threading
    import time

    from socialdesk.routing.sla import run_sla_loop

    policy(session, first_response_minutes=1)
    c = f.conversation(session, at=f.T0)  # long past due
    apply_sla(session, c)
    session.commit()
    stop = threading.Event()
    worker = threading.Thread(target=run_sla_loop, args=(stop, 0.05), daemon=True)
    worker.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not alerts(session, c):
        time.sleep(0.05)
        session.rollback()  # see the loop's commits
    stop.set()
    worker.join(5)
    assert not worker.is_alive()
    assert alerts(session, c) == [("sla_breach", "first_response")]
