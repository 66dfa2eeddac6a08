"""The outbox: one row per reply to send, the durable record of the send protocol."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from socialdesk.conversations.models import Conversation, Message
from socialdesk.db.base import Base, Timestamped, utcnow

# queued → sending (claimed, the HTTP call may be in flight) → sent | failed.
# A stale "sending" row (its claim expired: the sender died) is reconciled by resending
# with the same idempotency key, which the platform answers with the first send's id.
OUTBOX_STATES = ("queued", "sending", "sent", "failed", "cancelled")


class OutboxItem(Timestamped, Base):
    __tablename__ = "outbox_item"
    __table_args__ = (Index("ix_outbox_item_state_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("social_account.id"))
    platform: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    # Sent with every attempt; stable across retries and restarts.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    is_public: Mapped[bool] = mapped_column(default=True)
    recipient_id: Mapped[str] = mapped_column(String(128), default="")
    reply_to_external_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # A later part of a split X thread answers the part before it, so it waits for it.
    after_item_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_item.id"), default=None)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("reply_template.id"), default=None)
    # Platform-approved template (WhatsApp outside the 24-hour window).
    platform_template: Mapped[str] = mapped_column(String(512), default="")
    platform_template_language: Mapped[str] = mapped_column(String(16), default="")
    # Sent by automation or on a schedule (paused during a crisis), not typed by an agent now.
    automatic: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    external_id: Mapped[str | None] = mapped_column(String(128), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)

    message: Mapped[Message] = relationship()


# Inbox filters that select few conversations (a brand's urgent ones, a language) read them
# newest first from these instead of filtering a long run of the brand's or the recent-activity
# index (benchmarks/inbox.py). Declared here because migration 0100 (issue 4, part B) creates them.
INBOX_INDEXES = (
    Index(
        "ix_conversation_brand_priority_recent",
        Conversation.brand_id,
        Conversation.priority,
        Conversation.last_message_at,
    ),
    Index("ix_conversation_language_recent", Conversation.language, Conversation.last_message_at),
)
