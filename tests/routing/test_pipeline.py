"""The worker pipeline routes new and reopened conversations and keeps SLA clocks (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from socialdesk.conversations.models import ConversationEvent
from socialdesk.db.base import utcnow
from socialdesk.ingest.service import Ingestor, IngestReport
from socialdesk.pipeline import process_message
from socialdesk.routing.models import SlaPolicy
from tests import factories as base
from tests.routing import factories as f


@pytest.fixture
def db_url(any_db_url):
    return any_db_url


def deliver(session, account, item) -> int:
    report = IngestReport()
    ingestor = Ingestor(session)
    ingestor.prime(account, [item])
    ingestor.store(account, item, report)
    ingestor.finish(report)
    session.commit()
    (message_id,) = report.message_ids
    process_message(session, message_id)
    session.commit()
    return message_id


def test_a_new_conversation_is_routed_and_gets_its_due_times_and_a_reopen_routes_again(session):
    team = f.team(session, "care")
    first = f.agent(session, "First", teams=[team])
    second = f.agent(session, "Second", teams=[team])
    session.add(
        SlaPolicy(name="std", platform="", priority="", first_response_minutes=60, resolution_minutes=600)
    )
    account = base.account(session, "x")
    session.commit()
    t0 = utcnow() - timedelta(minutes=10)
    mid = deliver(session, account, base.inbound("m1", text="my parcel is late", sent_at=t0))

    from socialdesk.conversations.models import Message

    c = session.get(Message, mid).conversation
    assert (c.team_id, c.assignee_id) == (team.id, first.id)
    assert c.first_response_due_at == t0 + timedelta(minutes=60)
    assert c.resolution_due_at == t0 + timedelta(minutes=600)

    # The agent goes offline after resolving; the customer writes again inside the reopen window.
    from socialdesk.conversations.actions import change_status

    change_status(session, c, "resolved", actor=None, now=t0 + timedelta(minutes=5))
    first.availability = "offline"
    session.commit()
    deliver(
        session,
        account,
        base.inbound("m2", reply_to="m1", text="still nothing", sent_at=t0 + timedelta(minutes=8)),
    )
    session.refresh(c)
    assert c.status == "open"
    assert c.assignee_id == second.id
    assert c.resolution_due_at == t0 + timedelta(minutes=8 + 600)
    kinds = [
        e.kind
        for e in session.scalars(
            select(ConversationEvent)
            .where(ConversationEvent.conversation_id == c.id)
            .order_by(ConversationEvent.id)
        )
    ]
    assert kinds.count("assigned") == 2 and "reopened" in kinds
