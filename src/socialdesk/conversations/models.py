"""Conversations, their messages, and the events that are their history."""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from socialdesk.db.base import Base, JSONType, Timestamped, utcnow

if TYPE_CHECKING:
    from socialdesk.customers.models import Customer

STATUSES = ("new", "open", "pending", "snoozed", "resolved", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")


class Conversation(Timestamped, Base):
    """One customer's thread with a brand on one account (a reply chain, a DM, a chat)."""

    __tablename__ = "conversation"
    __table_args__ = (
        # One thread key can hold several conversations over time (after resolution a new
        # one starts); `generation` numbers them so concurrent writers cannot fork a thread.
        UniqueConstraint("account_id", "thread_key", "generation"),
        Index("ix_conversation_inbox", "status", "last_message_at"),
        Index("ix_conversation_assignee_status", "assignee_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("social_account.id"))
    platform: Mapped[str] = mapped_column(String(32), index=True)
    thread_key: Mapped[str] = mapped_column(String(256))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    labels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    language: Mapped[str] = mapped_column(String(8), default="")
    # "public" (a reply chain / comment tree), "private" (DM, chat) or "mixed" after a handoff.
    visibility: Mapped[str] = mapped_column(String(8), default="public")
    subject: Mapped[str] = mapped_column(String(200), default="")
    first_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    waiting_since: Mapped[datetime | None] = mapped_column(default=None)
    snoozed_until: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    # Triage of the newest customer message, copied here so the inbox can filter and sort.
    sentiment: Mapped[str] = mapped_column(String(8), default="")
    issue_type: Mapped[str] = mapped_column(String(32), default="")
    urgency: Mapped[int] = mapped_column(Integer, default=0)
    # SLA clocks (set by the routing domain's SLA policies; None when no target applies).
    sla_policy_id: Mapped[int | None] = mapped_column(Integer, default=None)
    first_response_due_at: Mapped[datetime | None] = mapped_column(default=None)
    next_response_due_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_due_at: Mapped[datetime | None] = mapped_column(default=None)

    customer: Mapped["Customer | None"] = relationship()
    messages: Mapped[list["Message"]] = relationship(
        back_populates="conversation", order_by="Message.sent_at"
    )
    events: Mapped[list["ConversationEvent"]] = relationship(
        back_populates="conversation", order_by="ConversationEvent.id"
    )


class Message(Base):
    """One normalized item from any platform, inbound or outbound, with its raw payload."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("account_id", "external_id"),
        Index("ix_message_conversation_sent", "conversation_id", "sent_at"),
        Index("ix_message_account_reply_to", "account_id", "reply_to_external_id"),
        Index("ix_message_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("social_account.id"))
    platform: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversation.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    # "inbound" from a customer, "outbound" from the brand.
    direction: Mapped[str] = mapped_column(String(8), default="inbound")
    # "message" belongs to a conversation; "mention" is a public post not addressed to the
    # brand, kept for listening until someone turns it into a conversation.
    kind: Mapped[str] = mapped_column(String(8), default="message")
    external_id: Mapped[str] = mapped_column(String(128))
    thread_key: Mapped[str] = mapped_column(String(256))
    reply_to_external_id: Mapped[str | None] = mapped_column(String(128), default=None)
    author_external_id: Mapped[str] = mapped_column(String(128), default="")
    author_handle: Mapped[str] = mapped_column(String(128), default="")
    author_name: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    is_public: Mapped[bool] = mapped_column(default=True)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    language: Mapped[str] = mapped_column(String(8), default="")
    sentiment: Mapped[str] = mapped_column(String(8), default="")
    issue_type: Mapped[str] = mapped_column(String(32), default="")
    urgency: Mapped[int | None] = mapped_column(Integer, default=None)
    triage: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
    # Outbound only: queued, sent, delivered, read, failed.
    delivery_status: Mapped[str] = mapped_column(String(16), default="")
    sent_by_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id"), default=None)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)

    conversation: Mapped[Conversation | None] = relationship(back_populates="messages")
    customer: Mapped["Customer | None"] = relationship()


class ConversationEvent(Base):
    """Who did what to a conversation, when. The source of truth for KPIs and the timeline."""

    __tablename__ = "conversation_event"
    __table_args__ = (Index("ix_conversation_event_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id"), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    conversation: Mapped[Conversation] = relationship(back_populates="events")


class Note(Timestamped, Base):
    """An internal note on a conversation; never sent to the customer."""

    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"), index=True)
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agent.id"))
    body: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[int]] = mapped_column(JSONType, default=list)


class ThreadAlias(Timestamped, Base):
    """Another thread key that continues a conversation: the customer's DM thread after a
    public → private handoff, so their DMs land in the conversation that asked for them.

    ``after_generation`` is the newest conversation generation the key itself had when the
    alias was written: a later conversation on the key (the alias target was closed, say)
    wins over the alias. See ``conversations.aliases``.
    """

    __tablename__ = "thread_alias"
    __table_args__ = (UniqueConstraint("account_id", "thread_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("social_account.id", ondelete="CASCADE"))
    thread_key: Mapped[str] = mapped_column(String(256))
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    after_generation: Mapped[int] = mapped_column(Integer, default=0)
