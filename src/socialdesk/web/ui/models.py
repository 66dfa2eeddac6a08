"""Browser sessions, kept server-side so logout and expiry really end them."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.conversations.models import Conversation
from socialdesk.db.base import Base, utcnow


class WebSession(Base):
    """One signed-in browser. The cookie carries a signed random id; only its SHA-256 is stored."""

    __tablename__ = "web_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class SavedFilter(Base):
    """An agent's named inbox query (view, filters, sort), shown with its count."""

    __tablename__ = "saved_filter"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The inbox list is read along one of these (web/ui/inbox.py, _walk_index): each leads with the
# list's sort key and id, then carries every column a view or filter compares, so SQLite checks a
# selective filter combination in the index entries alone instead of one table lookup per row it
# skips (40-140 ms for negative + X + German on 200,000 conversations). Migration 0410 creates them.
_FILTERED = (
    Conversation.status,
    Conversation.first_response_at,
    Conversation.platform,
    Conversation.language,
    Conversation.sentiment,
    Conversation.priority,
    Conversation.brand_id,
    Conversation.team_id,
    Conversation.assignee_id,
    Conversation.issue_type,
)
INBOX_COVER_INDEXES = (
    Index("ix_conversation_first_due_cover", Conversation.first_response_due_at, Conversation.id, *_FILTERED),
    Index("ix_conversation_next_due_cover", Conversation.next_response_due_at, Conversation.id, *_FILTERED),
    Index("ix_conversation_recent_cover", Conversation.last_message_at, Conversation.id, *_FILTERED),
    # Sorted by priority, each level is read newest first: a rare level (urgent) is a short range
    # here instead of a scan of every conversation along the recency index. Migration 0420.
    Index(
        "ix_conversation_priority_cover",
        Conversation.priority,
        Conversation.last_message_at,
        Conversation.id,
        *(c for c in _FILTERED if c is not Conversation.priority),
    ),
    # The label counts of the views column read only labelled conversations (a tenth of them).
    Index(
        "ix_conversation_labelled",
        Conversation.status,
        Conversation.labels,
        sqlite_where=text("labels != '[]'"),
        postgresql_where=text("labels != '[]'::jsonb"),
    ),
)
