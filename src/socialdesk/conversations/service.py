"""Reading conversations: the inbox list with filters and cursor pagination."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, selectinload

from socialdesk.brands.models import Brand
from socialdesk.conversations.models import PRIORITIES, STATUSES, Conversation


class QueryError(ValueError):
    """A filter or cursor the caller got wrong."""


@dataclass(slots=True)
class ConversationFilter:
    status: list[str] | None = None
    platform: list[str] | None = None
    brand: str | None = None
    assignee: str | None = None  # an agent id, or "none" for unassigned
    team_id: int | None = None
    priority: list[str] | None = None
    language: str | None = None
    since: datetime | None = None


def encode_cursor(conversation: Conversation) -> str:
    raw = f"{conversation.last_message_at.isoformat()}|{conversation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        return datetime.fromisoformat(at), int(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise QueryError("invalid cursor; pass back next_cursor exactly as returned") from exc


def filtered(query: Select, f: ConversationFilter, session: Session) -> Select:
    if f.status:
        unknown = set(f.status) - set(STATUSES)
        if unknown:
            raise QueryError(f"unknown status {sorted(unknown)}; expected any of {', '.join(STATUSES)}")
        query = query.where(Conversation.status.in_(f.status))
    if f.priority:
        unknown = set(f.priority) - set(PRIORITIES)
        if unknown:
            raise QueryError(f"unknown priority {sorted(unknown)}; expected any of {', '.join(PRIORITIES)}")
        query = query.where(Conversation.priority.in_(f.priority))
    if f.platform:
        query = query.where(Conversation.platform.in_(f.platform))
    if f.brand:
        brand_id = session.scalar(select(Brand.id).where(Brand.slug == f.brand))
        if brand_id is None:
            raise QueryError(f"no brand named {f.brand!r}")
        query = query.where(Conversation.brand_id == brand_id)
    if f.assignee is not None:
        if f.assignee == "none":
            query = query.where(Conversation.assignee_id.is_(None))
        elif f.assignee.isdigit():
            query = query.where(Conversation.assignee_id == int(f.assignee))
        else:
            raise QueryError("assignee must be an agent id or 'none'")
    if f.team_id is not None:
        query = query.where(Conversation.team_id == f.team_id)
    if f.language:
        query = query.where(Conversation.language == f.language)
    if f.since is not None:
        query = query.where(Conversation.last_message_at >= f.since)
    return query


def list_conversations(
    session: Session, f: ConversationFilter, *, limit: int = 50, cursor: str | None = None
) -> tuple[list[Conversation], str | None]:
    """Newest activity first; the cursor is the last row's (last_message_at, id)."""
    query = filtered(select(Conversation), f, session)
    if cursor:
        at, ident = decode_cursor(cursor)
        query = query.where(
            or_(
                Conversation.last_message_at < at,
                and_(Conversation.last_message_at == at, Conversation.id < ident),
            )
        )
    rows = session.scalars(
        query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc()).limit(limit + 1)
    ).all()
    page = list(rows[:limit])
    next_cursor = encode_cursor(page[-1]) if len(rows) > limit and page else None
    return page, next_cursor


def get_conversation(session: Session, conversation_id: int) -> Conversation | None:
    return session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .options(selectinload(Conversation.messages))
    )
