"""Priority, labels, notes with @mentions, participants and live updates (SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from socialdesk.conversations import actions
from socialdesk.conversations.models import ConversationEvent, Note
from socialdesk.live import LocalBroker, set_broker
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


def events(session, conversation, kind=None):
    query = select(ConversationEvent).where(ConversationEvent.conversation_id == conversation.id)
    if kind:
        query = query.where(ConversationEvent.kind == kind)
    return session.scalars(query.order_by(ConversationEvent.id)).all()


def test_priority_and_labels_change_only_when_something_changes(session):
    conversation = f.conversation(session)
    actor = f.principal(f.agent(session))
    with pytest.raises(actions.ActionError, match="unknown priority"):
        actions.set_priority(session, conversation, "whenever", actor=actor)
    assert actions.set_priority(session, conversation, "urgent", actor=actor) is True
    assert actions.set_priority(session, conversation, "urgent", actor=actor) is False
    assert [e.data["to"] for e in events(session, conversation, "priority_changed")] == ["urgent"]

    assert actions.add_labels(session, conversation, ["Refund", " shipping ", "refund"], actor=actor) == [
        "refund",
        "shipping",
    ]
    assert actions.add_labels(session, conversation, ["refund"], actor=actor) == []
    assert actions.remove_labels(session, conversation, ["shipping", "absent"], actor=actor) == ["shipping"]
    session.commit()
    session.refresh(conversation)
    assert conversation.labels == ["refund"]
    with pytest.raises(actions.ActionError, match="empty"):
        actions.add_labels(session, conversation, ["  "], actor=actor)
    with pytest.raises(actions.ActionError, match="longer than"):
        actions.add_labels(session, conversation, ["x" * 65], actor=actor)


def test_a_change_publishes_a_live_conversation_update(session):
    import asyncio

    broker = LocalBroker()
    set_broker(broker)
    try:
        conversation = f.conversation(session)

        async def scenario():
            stream = broker.subscribe()
            waiter = asyncio.ensure_future(stream.__anext__())
            await asyncio.sleep(0)
            actions.set_priority(session, conversation, "high", actor=None)
            return await asyncio.wait_for(waiter, 2)

        event = asyncio.run(scenario())
        assert event.kind == "conversation.updated"
        assert event.data["conversation_id"] == conversation.id
    finally:
        set_broker(None)


def test_notes_resolve_mentions_of_colleagues_and_ignore_unknown_names(session):
    anna = f.agent(session, "Anna Berg", email="anna@desk.example")
    jonas = f.agent(session, "Jonas Weber", email="j.weber@desk.example")
    conversation = f.conversation(session)
    note = actions.add_note(
        session,
        conversation,
        "@anna and @JonasWeber please check; customer wrote to help@shop.example, not @nobody",
        actor=f.principal(anna),
    )
    assert note.mentions == [anna.id, jonas.id]
    assert note.author_agent_id == anna.id
    event = events(session, conversation, "note_added")[-1]
    assert event.data["unresolved_mentions"] == ["nobody"]
    assert (
        session.scalars(select(Note).where(Note.conversation_id == conversation.id))
        .one()
        .body.startswith("@anna")
    )
    with pytest.raises(actions.ActionError, match="empty"):
        actions.add_note(session, conversation, "   ", actor=None)
    assert set(actions.participants(session, conversation)) == {anna.id, jonas.id}


def test_participants_can_be_added_and_removed(session):
    anna, ben = f.agent(session, "Anna Berg"), f.agent(session, "Ben Ode")
    conversation = f.conversation(session)
    assert actions.add_participant(session, conversation, ben.id, actor=f.principal(anna)) is True
    assert actions.add_participant(session, conversation, ben.id, actor=f.principal(anna)) is False
    assert actions.participants(session, conversation) == [ben.id]
    assert actions.remove_participant(session, conversation, ben.id, actor=None) is True
    assert actions.participants(session, conversation) == []
    with pytest.raises(actions.ActionError, match="does not exist"):
        actions.add_participant(session, conversation, 999_999, actor=None)
