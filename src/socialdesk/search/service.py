"""Search messages and customers: every word must match, each as a prefix ("refun" finds "refund")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from socialdesk.search.index import CUSTOMER_COLUMNS, IDENTITY_COLUMNS, MESSAGE_COLUMNS, pg_document

WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 12
HIT_COLUMNS = "m.id, m.conversation_id, m.platform, m.author_name, m.author_handle, m.direction, m.sent_at"


class SearchError(ValueError):
    """A query that cannot be searched; the message says why."""


@dataclass(slots=True)
class MessageHit:
    message_id: int
    conversation_id: int | None
    platform: str
    author: str
    direction: str
    sent_at: datetime | str
    snippet: str


@dataclass(slots=True)
class CustomerHit:
    customer_id: int
    name: str
    email: str
    handles: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SearchResults:
    query: str
    terms: list[str]
    messages: list[MessageHit]
    customers: list[CustomerHit]


def terms_of(query: str) -> list[str]:
    terms = [t.lower() for t in WORD.findall(query)]
    if not terms:
        raise SearchError("Type at least one word or number to search for.")
    if len(terms) > MAX_TERMS:
        raise SearchError(f"Search with at most {MAX_TERMS} words.")
    return terms


def search(session: Session, query: str, *, limit: int = 50) -> SearchResults:
    terms = terms_of(query)
    if session.get_bind().dialect.name == "postgresql":
        messages, customers = _postgresql(session, terms, query, limit)
    else:
        messages, customers = _sqlite(session, terms, limit)
    return SearchResults(query=query, terms=terms, messages=messages, customers=customers)


def _sqlite(session: Session, terms: list[str], limit: int) -> tuple[list[MessageHit], list[CustomerHit]]:
    # Words are \w+ only, so quoting each one cannot break out of the FTS5 syntax.
    match = " ".join(f'"{t}"*' for t in terms)
    rows = session.execute(
        text(
            f"SELECT {HIT_COLUMNS}, "
            "snippet(message_fts, 0, '[', ']', '…', 16) AS snip "
            "FROM message_fts JOIN message m ON m.id = message_fts.rowid "
            "WHERE message_fts MATCH :match ORDER BY bm25(message_fts), m.id DESC LIMIT :limit"
        ),
        {"match": match, "limit": limit},
    ).all()
    messages = [_message_hit(r) for r in rows]
    customer_ids = [
        r[0]
        for r in session.execute(
            text(
                "SELECT rowid FROM customer_fts WHERE customer_fts MATCH :match "
                "UNION SELECT i.customer_id FROM identity_fts JOIN identity i ON i.id = identity_fts.rowid "
                "WHERE identity_fts MATCH :match LIMIT :limit"
            ),
            {"match": match, "limit": limit},
        )
    ]
    return messages, _customers(session, customer_ids)


def _postgresql(
    session: Session, terms: list[str], raw: str, limit: int
) -> tuple[list[MessageHit], list[CustomerHit]]:
    # Each word a prefix; to_tsquery gets only \w+ words joined by &, so it always parses.
    # PostgreSQL's parser keeps e-mail addresses and URLs whole, so the raw query parsed the
    # same way (plainto_tsquery) is the other way to match.
    tsquery = " & ".join(f"{t}:*" for t in terms)
    query_sql = "(to_tsquery('simple', :q) || plainto_tsquery('simple', :raw))"
    doc = pg_document(MESSAGE_COLUMNS, "m")
    rows = session.execute(
        text(
            f"WITH qq AS (SELECT {query_sql} AS q) SELECT {HIT_COLUMNS}, "
            f"ts_headline('simple', m.text, qq.q, 'StartSel=[,StopSel=],MaxWords=24,MinWords=8') AS snip "
            f"FROM message m, qq WHERE {doc} @@ qq.q "
            f"ORDER BY ts_rank({doc}, qq.q) DESC, m.id DESC LIMIT :limit"
        ),
        {"q": tsquery, "raw": raw, "limit": limit},
    ).all()
    messages = [_message_hit(r) for r in rows]
    customer_ids = [
        r[0]
        for r in session.execute(
            text(
                f"SELECT c.id FROM customer c "
                f"WHERE {pg_document(CUSTOMER_COLUMNS, 'c')} @@ {query_sql} "
                f"UNION SELECT i.customer_id FROM identity i "
                f"WHERE {pg_document(IDENTITY_COLUMNS, 'i')} @@ {query_sql} LIMIT :limit"
            ),
            {"q": tsquery, "raw": raw, "limit": limit},
        )
    ]
    return messages, _customers(session, customer_ids)


def _message_hit(row: object) -> MessageHit:
    r = row  # a Row: (id, conversation_id, platform, author_name, author_handle, direction, sent_at, snip)
    author = r[3] or (f"@{r[4]}" if r[4] else "")  # type: ignore[index]
    return MessageHit(r[0], r[1], r[2], author, r[5], r[6], r[7] or "")  # type: ignore[index]


def _customers(session: Session, ids: list[int]) -> list[CustomerHit]:
    if not ids:
        return []
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from socialdesk.customers.models import Customer

    rows = session.scalars(
        select(Customer)
        .where(Customer.id.in_(ids))
        .options(selectinload(Customer.identities))
        .order_by(Customer.id)
    ).all()
    return [
        CustomerHit(c.id, c.name, c.email, [f"{i.platform}:@{i.handle}" for i in c.identities if i.handle])
        for c in rows
    ]
