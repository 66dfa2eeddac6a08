"""The bulk importer hands rows to the driver itself: it must write exactly what SQLAlchemy's
own executemany writes (same conversions, same defaults), on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, text

from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.ingest.bulk import BulkIngestor
from tests import factories


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def differing_columns(session, table) -> set[str]:
    """Columns whose stored values (as SQLite holds them, not as SQLAlchemy reads them back)
    differ between the table's two rows."""
    query = text(f'SELECT * FROM "{table.name}" ORDER BY id')  # noqa: S608
    first, second = (tuple(r) for r in session.execute(query))
    names = [c.name for c in table.columns]
    return {name for name, a, b in zip(names, first, second, strict=True) if a != b}


def test_direct_rows_equal_sqlalchemy_rows_for_every_column(session):
    account = factories.account(session, "x", slug="raw")
    session.commit()
    at = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=UTC)
    other_zone = datetime(2026, 11, 2, 11, 30, 15, tzinfo=timezone(timedelta(hours=2)))
    conversation = {
        "account_id": account.id, "brand_id": account.brand_id, "platform": "x", "thread_key": "T",
        "generation": 1, "customer_id": None, "status": "open", "visibility": "mixed",
        "last_message_at": other_zone, "last_inbound_at": at, "first_response_at": None,
        "waiting_since": at, "resolved_at": None, "message_count": 2, "language": "de",
        "subject": "Wo ist meine Bestellung? ü", "first_message_at": at, "created_at": at,
    }  # fmt: skip
    message = {
        "account_id": account.id, "platform": "x", "direction": "inbound", "kind": "message",
        "thread_key": "T", "reply_to_external_id": None, "author_external_id": "u1",
        "author_handle": "h", "author_name": "Zoë", "text": "ünïcode \u2603 and 'quotes'",
        "is_public": False, "sent_at": other_zone, "received_at": at, "language": "",
        "raw": {"nested": [1, 2.5, None, "ß"], "ok": True}, "delivery_status": "",
    }  # fmt: skip
    bulk = BulkIngestor(session)
    conversation_ids = (101, 102)
    bulk._insert(Conversation.__table__, [{**conversation, "id": conversation_ids[0]}])
    session.execute(
        insert(Conversation.__table__), [{**conversation, "id": conversation_ids[1], "thread_key": "U"}]
    )
    bulk._insert(
        Message.__table__,
        [{**message, "id": 201, "external_id": "a", "conversation_id": 101, "customer_id": None}],
    )
    session.execute(
        insert(Message.__table__),
        [{**message, "id": 202, "external_id": "b", "conversation_id": 102, "customer_id": None}],
    )
    event = {"kind": "created", "at": at, "actor_agent_id": None, "data": {"thread_key": "T", "n": 1}}
    bulk._insert(ConversationEvent.__table__, [{**event, "id": 301, "conversation_id": 101}])
    session.execute(insert(ConversationEvent.__table__), [{**event, "id": 302, "conversation_id": 102}])
    session.commit()

    # Only what the test itself made different may differ.
    assert differing_columns(session, Conversation.__table__) == {"id", "thread_key"}
    assert differing_columns(session, Message.__table__) == {"id", "external_id", "conversation_id"}
    assert differing_columns(session, ConversationEvent.__table__) == {"id", "conversation_id"}


def test_a_row_the_database_refuses_raises_sqlalchemy_s_integrity_error(session):
    # The webhook writer retries a batch that lost a unique race on IntegrityError, so the
    # driver's own error (PostgreSQL's rows go straight to psycopg) must arrive as SQLAlchemy's.
    from sqlalchemy.exc import IntegrityError

    from socialdesk.customers.models import Customer

    at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    bulk = BulkIngestor(session)
    bulk._insert(Customer.__table__, [{"id": 7, "name": "first", "followers": 0, "created_at": at}])
    with pytest.raises(IntegrityError):
        bulk._insert(Customer.__table__, [{"id": 7, "name": "again", "followers": 0, "created_at": at}])
    session.rollback()
