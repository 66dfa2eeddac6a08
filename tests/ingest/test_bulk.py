"""The bulk file importer follows exactly the rules of the one-by-one Ingestor."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.ingest.bulk import BulkIngestor
from socialdesk.ingest.files import import_twcs
from socialdesk.ingest.service import Ingestor, IngestReport
from tests import factories

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "twcs" / "sample.csv"


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def shape(session) -> dict:
    """What threading decided, independent of ids."""
    session.expire_all()
    conversations = {}
    for c in session.scalars(select(Conversation)):
        messages = sorted(m.external_id for m in c.messages)
        conversations[messages[0]] = (
            tuple(messages),
            c.status,
            c.generation,
            c.first_response_at,
            c.waiting_since,
            c.message_count,
            c.last_message_at,
        )
    kinds = sorted(
        (e.conversation.messages[0].external_id, e.kind) for e in session.scalars(select(ConversationEvent))
    )
    mentions = sorted(
        m.external_id for m in session.scalars(select(Message).where(Message.conversation_id.is_(None)))
    )
    return {"conversations": conversations, "events": kinds, "mentions": mentions}


def scenario(t0: datetime) -> list:
    """Replies, brand answers, a mention, a reply to a mention, a late return after resolution."""
    m = factories.inbound
    return [
        m("a1", thread_key="A", author_id="u1", sent_at=t0),
        m(
            "a2",
            thread_key="A",
            author_id="brand",
            direction="outbound",
            reply_to="a1",
            sent_at=t0 + timedelta(minutes=3),
        ),
        m("a3", thread_key="A", author_id="u1", reply_to="a2", sent_at=t0 + timedelta(minutes=5)),
        m("n1", thread_key="N", author_id="u2", addressed_to_brand=False, sent_at=t0 + timedelta(minutes=6)),
        m("n2", thread_key="N", author_id="u3", reply_to="n1", sent_at=t0 + timedelta(minutes=7)),
        m("p1", thread_key="P", author_id="brand", direction="outbound", sent_at=t0 + timedelta(minutes=8)),
        m("d1", thread_key="DM", author_id="u4", is_public=False, sent_at=t0 + timedelta(minutes=9)),
        m("d2", thread_key="DM", author_id="u4", is_public=True, sent_at=t0 + timedelta(minutes=10)),
    ]


def test_bulk_and_one_by_one_thread_the_same_messages_identically(session):
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    account = factories.account(session, "x", slug="one")
    session.commit()
    ingestor, report = Ingestor(session), IngestReport()
    for item in scenario(t0):
        ingestor.store(account, item, report)
    ingestor.finish(report)
    session.commit()
    one_by_one = shape(session)
    for table in (ConversationEvent, Message, Conversation):
        session.execute(table.__table__.delete())
    session.commit()

    bulk, bulk_report = BulkIngestor(session), IngestReport()
    items = scenario(t0)
    bulk.prime(account, items)
    for item in items:
        bulk.store(account, item, bulk_report)
    bulk.finish(bulk_report)
    session.commit()
    assert shape(session) == one_by_one
    assert (bulk_report.messages, bulk_report.conversations, bulk_report.mentions) == (
        report.messages,
        report.conversations,
        report.mentions,
    )


def test_a_second_bulk_batch_continues_threads_and_reopens_resolved_ones(session):
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    account = factories.account(session, "x", slug="two")
    session.commit()
    first = BulkIngestor(session)
    items = [factories.inbound("r1", thread_key="R", author_id="u1", sent_at=t0)]
    first.prime(account, items)
    first.store(account, items[0], IngestReport())
    first.finish(IngestReport())
    session.commit()
    conversation = session.scalars(select(Conversation)).one()
    conversation.status, conversation.resolved_at = "resolved", t0 + timedelta(hours=1)
    session.commit()

    second, report = BulkIngestor(session), IngestReport()
    later = [
        factories.inbound(
            "r2", thread_key="R", author_id="u1", reply_to="r1", sent_at=t0 + timedelta(hours=2)
        )
    ]
    second.prime(account, later)
    second.store(account, later[0], report)
    second.finish(report)
    session.commit()
    session.refresh(conversation)
    assert (conversation.status, conversation.message_count, report.customers) == ("open", 2, 0)
    kinds = [e.kind for e in session.scalars(select(ConversationEvent).order_by(ConversationEvent.id))]
    assert kinds == ["created", "message_in", "reopened", "message_in"]


def test_the_twcs_sample_imports_the_same_on_either_database(session):
    report = import_twcs(session, SAMPLE)
    session.commit()
    assert (report.messages, report.dead_letters) == (93, 0)
    again = import_twcs(session, SAMPLE)
    session.commit()
    assert (again.messages, again.duplicates) == (0, 93)
