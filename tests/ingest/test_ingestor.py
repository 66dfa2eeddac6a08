"""Storing normalized messages: idempotent, threaded, with customers, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.customers.models import Customer
from socialdesk.ingest.models import DeadLetter
from socialdesk.ingest.service import Ingestor, IngestReport
from tests import factories


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def store(session: Session, account, *items) -> IngestReport:
    report = IngestReport()
    ingestor = Ingestor(session)
    ingestor.prime(account, items)
    for item in items:
        ingestor.store(account, item, report)
    ingestor.finish(report)
    session.commit()
    return report


def count(session: Session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_the_same_platform_message_twice_stores_one(session):
    account = factories.account(session)
    first = store(session, account, factories.inbound("t1"))
    again = store(session, account, factories.inbound("t1"))
    assert (first.messages, first.duplicates) == (1, 0)
    assert (again.messages, again.duplicates) == (0, 1)
    assert count(session, Message) == 1


def test_a_reply_joins_its_parents_conversation_and_the_brand_answer_is_first_response(session):
    account = factories.account(session)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    store(session, account, factories.inbound("t1", sent_at=t0))
    store(
        session,
        account,
        factories.inbound(
            "t2", reply_to="t1", direction="outbound", author_id="brand", sent_at=t0 + timedelta(minutes=7)
        ),
    )
    store(session, account, factories.inbound("t3", reply_to="t2", sent_at=t0 + timedelta(minutes=9)))

    conversation = session.scalars(select(Conversation)).one()
    assert conversation.message_count == 3
    assert conversation.first_response_at == t0 + timedelta(minutes=7)
    assert conversation.status == "open"
    assert conversation.waiting_since == t0 + timedelta(minutes=9)
    directions = [m.direction for m in conversation.messages]
    assert directions == ["inbound", "outbound", "inbound"]
    kinds = [e.kind for e in session.scalars(select(ConversationEvent).order_by(ConversationEvent.id))]
    assert kinds == ["created", "message_in", "message_out", "message_in"]


def test_one_customer_per_platform_identity_across_conversations(session):
    account = factories.account(session)
    store(session, account, factories.inbound("a", author_id="42", thread_key="dm-42", is_public=False))
    store(session, account, factories.inbound("b", author_id="42", thread_key="other"))
    store(session, account, factories.inbound("c", author_id="77"))
    assert count(session, Customer) == 2
    customers = {c.customer_id for c in session.scalars(select(Conversation))}
    assert len(customers) == 2


def test_a_message_on_a_resolved_conversation_reopens_it_inside_the_window(session):
    account = factories.account(session)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    store(session, account, factories.inbound("a", thread_key="dm", sent_at=t0))
    conversation = session.scalars(select(Conversation)).one()
    conversation.status, conversation.resolved_at = "resolved", t0 + timedelta(hours=1)
    session.commit()
    store(session, account, factories.inbound("b", thread_key="dm", sent_at=t0 + timedelta(hours=5)))
    session.refresh(conversation)
    assert conversation.status == "open"
    assert count(session, Conversation) == 1


def test_after_the_reopen_window_the_thread_starts_a_new_conversation(session):
    account = factories.account(session)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    store(session, account, factories.inbound("a", thread_key="dm", sent_at=t0))
    conversation = session.scalars(select(Conversation)).one()
    conversation.status, conversation.resolved_at = "resolved", t0 + timedelta(hours=1)
    session.commit()
    store(session, account, factories.inbound("b", thread_key="dm", sent_at=t0 + timedelta(days=10)))
    rows = session.scalars(select(Conversation).order_by(Conversation.generation)).all()
    assert [(c.generation, c.status) for c in rows] == [(1, "resolved"), (2, "new")]


def test_a_public_mention_not_addressed_to_the_brand_is_kept_for_listening(session):
    account = factories.account(session)
    report = store(session, account, factories.inbound("m1", addressed_to_brand=False))
    message = session.scalars(select(Message)).one()
    assert report.mentions == 1
    assert message.kind == "mention" and message.conversation_id is None
    assert count(session, Conversation) == 0


def test_text_over_the_limit_becomes_a_dead_letter_and_nothing_else_changes(session):
    account = factories.account(session)
    store(session, account, factories.inbound("ok"))
    report = store(session, account, factories.inbound("huge", text="x" * 100_001))
    assert report.dead_letters == 1 and report.messages == 0
    assert count(session, Message) == 1
    assert "larger than 100000 bytes" in session.scalars(select(DeadLetter)).one().reason


def test_a_batch_with_a_reply_before_its_parent_in_the_same_batch_still_threads(session):
    account = factories.account(session)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    store(
        session,
        account,
        factories.inbound("p", sent_at=t0),
        factories.inbound("c", reply_to="p", sent_at=t0 + timedelta(minutes=1)),
    )
    assert count(session, Conversation) == 1
