"""Conversation life on SQLite and PostgreSQL: every status transition, snoozing, waking, bulk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from socialdesk.conversations import actions
from socialdesk.conversations.models import STATUSES, Conversation, ConversationEvent
from socialdesk.conversations.service import ConversationFilter
from socialdesk.pipeline import STEPS
from tests import factories
from tests.outbox import factories as f

# Written out independently of actions.TRANSITIONS, so a change there has to be deliberate.
ALLOWED = {
    ("new", "open"), ("new", "pending"), ("new", "snoozed"), ("new", "resolved"), ("new", "closed"),
    ("open", "pending"), ("open", "snoozed"), ("open", "resolved"), ("open", "closed"),
    ("pending", "open"), ("pending", "snoozed"), ("pending", "resolved"), ("pending", "closed"),
    ("snoozed", "open"), ("snoozed", "pending"), ("snoozed", "resolved"), ("snoozed", "closed"),
    ("resolved", "open"), ("resolved", "closed"),
}  # fmt: skip
LATER = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def events(session, conversation, kind=None):
    query = select(ConversationEvent).where(ConversationEvent.conversation_id == conversation.id)
    if kind:
        query = query.where(ConversationEvent.kind == kind)
    return session.scalars(query.order_by(ConversationEvent.id)).all()


@pytest.mark.parametrize("source", STATUSES)
def test_every_transition_is_allowed_or_refused_exactly_as_the_life_cycle_says(session, source):
    anna = f.agent(session)
    actor = f.principal(anna)
    for target in STATUSES:
        conversation = f.conversation(session)
        conversation.status = source
        if source == "snoozed":
            conversation.snoozed_until = LATER
        session.flush()
        before = len(events(session, conversation))
        snooze = LATER if target == "snoozed" else None
        if (source, target) in ALLOWED:
            event = actions.change_status(session, conversation, target, actor=actor, snooze_until=snooze)
            assert conversation.status == target
            assert event.actor_agent_id == anna.id
            assert event.data["from"] == source and event.data["to"] == target
            assert len(events(session, conversation)) == before + 1
        else:
            with pytest.raises(actions.TransitionError) as error:
                actions.change_status(session, conversation, target, actor=actor, snooze_until=snooze)
            assert conversation.status == source
            assert len(events(session, conversation)) == before
            assert f"to {target}" in str(error.value) or "already" in str(error.value)
        session.rollback()


def test_resolving_stamps_the_time_and_reopening_is_a_reopen_event(session):
    conversation = f.conversation(session)
    actions.change_status(session, conversation, "resolved", actor=None)
    assert conversation.resolved_at is not None
    event = actions.change_status(session, conversation, "open", actor=None)
    assert event.kind == "reopened"
    assert conversation.resolved_at is None


def test_snoozing_needs_a_future_time_and_wakes_back_to_open(session):
    conversation = f.conversation(session)
    now = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    with pytest.raises(actions.TransitionError, match="needs snooze_until"):
        actions.change_status(session, conversation, "snoozed", actor=None, now=now)
    with pytest.raises(actions.TransitionError, match="not in the future"):
        actions.change_status(session, conversation, "snoozed", actor=None, snooze_until=now, now=now)
    with pytest.raises(actions.TransitionError, match="only applies"):
        actions.change_status(
            session, conversation, "pending", actor=None, snooze_until=now + timedelta(hours=1)
        )
    actions.change_status(
        session, conversation, "snoozed", actor=None, snooze_until=now + timedelta(hours=2), now=now
    )
    session.commit()

    assert actions.wake_snoozed(session, now + timedelta(hours=1)) == []
    assert conversation.status == "snoozed"
    assert actions.wake_snoozed(session, now + timedelta(hours=2)) == [conversation.id]
    assert conversation.status == "open"
    assert conversation.snoozed_until is None
    assert events(session, conversation, "status_changed")[-1].data["reason"] == "snooze_expired"


def test_a_customer_message_moves_pending_to_open_and_wakes_a_snoozed_conversation(session):
    account = factories.account(session)
    first = f.store(session, account, factories.inbound("c1", sent_at=f.T0))
    conversation = first.conversation
    actions.change_status(session, conversation, "pending", actor=None)
    f.store(session, account, factories.inbound("c2", reply_to="c1", sent_at=f.T0 + timedelta(minutes=5)))
    assert conversation.status == "open"  # threading's rule, consistent with the machine

    actions.change_status(session, conversation, "snoozed", actor=None, snooze_until=LATER)
    third = f.store(
        session, account, factories.inbound("c3", reply_to="c2", sent_at=f.T0 + timedelta(minutes=9))
    )
    session.commit()
    actions.wake_on_customer_message_step(session, third)
    assert conversation.status == "open"
    assert actions.wake_on_customer_message_step in STEPS


def test_bulk_over_ids_skips_what_does_not_fit_and_reports_why(session):
    convs = [f.conversation(session) for _ in range(3)]
    actions.change_status(session, convs[2], "closed", actor=None)
    result = actions.bulk(session, "resolve", actor=None, ids=[c.id for c in convs])
    assert result.done == [convs[0].id, convs[1].id]
    assert "closed is final" in result.skipped[convs[2].id]
    assert [c.status for c in convs] == ["resolved", "resolved", "closed"]


def test_bulk_over_a_filter_labels_and_reprioritises_only_matching_conversations(session):
    xs = [f.conversation(session, platform="x") for _ in range(2)]
    other = f.conversation(session, platform="telegram")
    result = actions.bulk(
        session,
        "add_labels",
        actor=None,
        where=ConversationFilter(platform=["x"]),
        params={"labels": ["wave"]},
    )
    assert sorted(result.done) == sorted(c.id for c in xs)
    assert other.labels == []
    result = actions.bulk(
        session,
        "set_priority",
        actor=None,
        where=ConversationFilter(platform=["x"]),
        params={"priority": "high"},
    )
    assert {c.priority for c in xs} == {"high"} and other.priority == "normal"


def test_bulk_input_errors_change_nothing(session):
    conv = f.conversation(session)
    with pytest.raises(actions.ActionError, match="unknown bulk action"):
        actions.bulk(session, "delete", actor=None, ids=[conv.id])
    with pytest.raises(actions.ActionError, match="not both"):
        actions.bulk(session, "resolve", actor=None)
    with pytest.raises(actions.ActionError, match="no conversation with id 424242"):
        actions.bulk(session, "resolve", actor=None, ids=[conv.id, 424242])
    with pytest.raises(actions.ActionError, match="priority"):
        actions.bulk(session, "set_priority", actor=None, ids=[conv.id], params={"priority": "meh"})
    assert conv.status == "new" and conv.priority == "normal"


def test_bulk_assign_goes_through_routing(session):
    anna = f.agent(session)
    convs = [f.conversation(session) for _ in range(2)]
    result = actions.bulk(
        session, "assign", actor=None, ids=[c.id for c in convs], params={"agent_id": anna.id}
    )
    assert result.done == [c.id for c in convs]
    assert {c.assignee_id for c in session.scalars(select(Conversation))} == {anna.id}
