"""Analytics rollups (derived from conversation events, rebuilt at will), surveys and report schedules.

The rollups are caches: every row can be recomputed from `conversation_event` and `message`
(`socialdesk.analytics.rollup.refresh`). They exist so that a weekly report over millions of
messages is a handful of indexed SQL scans instead of a replay of every timeline.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.conversations.models import Conversation, Message
from socialdesk.customers.models import Customer
from socialdesk.db.base import Base, Timestamped, utcnow


class ResponseInterval(Base):
    """One customer wait that an agent's reply ended: the first response or a next response."""

    __tablename__ = "analytics_response"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        # Covering: the report's range read never touches the table (migration 0510).
        Index(
            "ix_analytics_response_cover",
            "kind",
            "stopped_at",
            "conversation_id",
            "agent_id",
            "seconds",
            "business_seconds",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))  # "first" or "next"
    started_at: Mapped[datetime] = mapped_column()
    stopped_at: Mapped[datetime] = mapped_column()
    seconds: Mapped[float] = mapped_column()
    business_seconds: Mapped[float] = mapped_column()
    agent_id: Mapped[int | None] = mapped_column(Integer, default=None)


class ResolutionCycle(Base):
    """One stretch from the customer's first message (or a reopen) to resolution."""

    __tablename__ = "analytics_resolution"
    __table_args__ = (
        UniqueConstraint("conversation_id", "cycle"),
        Index(
            "ix_analytics_resolution_cover",
            "resolved_at",
            "conversation_id",
            "agent_id",
            "cycle",
            "seconds",
            "business_seconds",
            "gross_seconds",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    cycle: Mapped[int] = mapped_column(Integer)  # 1 for the first resolution, 2 after the first reopen...
    started_at: Mapped[datetime] = mapped_column()
    resolved_at: Mapped[datetime] = mapped_column()
    # Time in our hands (new/open), pending and snoozed stretches left out.
    seconds: Mapped[float] = mapped_column()
    business_seconds: Mapped[float] = mapped_column()
    # Wall-clock from start to resolution, nothing left out.
    gross_seconds: Mapped[float] = mapped_column()
    agent_id: Mapped[int | None] = mapped_column(Integer, default=None)


class ConversationFacts(Base):
    """Per-conversation outcomes the reports count: SLA per target, reopens."""

    __tablename__ = "analytics_conversation"
    __table_args__ = (
        Index("ix_analytics_conversation_sla_first", "sla_first_response_at"),
        Index("ix_analytics_conversation_sla_next", "sla_next_response_at"),
        Index("ix_analytics_conversation_sla_resolution", "sla_resolution_at"),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    # "met", "breached" or "" (no target, or the clock still runs) per SLA target.
    sla_first_response: Mapped[str] = mapped_column(String(8), default="")
    sla_next_response: Mapped[str] = mapped_column(String(8), default="")
    sla_resolution: Mapped[str] = mapped_column(String(8), default="")
    # When the outcome was decided (the stop event or the breach), for date ranges.
    sla_first_response_at: Mapped[datetime | None] = mapped_column(default=None)
    sla_next_response_at: Mapped[datetime | None] = mapped_column(default=None)
    sla_resolution_at: Mapped[datetime | None] = mapped_column(default=None)
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    # How many events the rollup was built from: a conversation whose event count differs has
    # an event it misses (new, or committed late with a lower id) and is replayed again.
    event_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


# Message volume over a date range (the report, the dashboard's series) scans by send time;
# covering, so counting in and out per conversation reads no message row.
MESSAGE_SENT_INDEX = Index(
    "ix_analytics_message_sent_cover", Message.sent_at, Message.direction, Message.conversation_id
)
# Every rollup row is grouped by its conversation's dimensions and its customer's country:
# narrow covering indexes make those lookups cheap next to the wide rows (SQLite reads them
# with INDEXED BY, see kpis._dims_join). Always current: the database maintains them.
_DIMS = (
    Conversation.platform,
    Conversation.brand_id,
    Conversation.team_id,
    Conversation.assignee_id,
    Conversation.language,
    Conversation.customer_id,
)
CONVERSATION_DIMS_INDEX = Index("ix_analytics_conversation_dims", Conversation.id, *_DIMS)
CONVERSATION_FIRST_INDEX = Index(
    "ix_analytics_conversation_first", Conversation.first_message_at, Conversation.id, *_DIMS
)
# The backlog (open work now) reads status, age and wait without touching the rows.
CONVERSATION_BACKLOG_INDEX = Index(
    "ix_analytics_conversation_backlog",
    Conversation.status,
    Conversation.first_message_at,
    Conversation.waiting_since,
    *_DIMS,
)
CUSTOMER_COUNTRY_INDEX = Index("ix_analytics_customer_country", Customer.id, Customer.country)


class ConversationSentiment(Base):
    """The customer's sentiment in their first and last triaged message of a conversation."""

    __tablename__ = "analytics_sentiment"
    __table_args__ = (
        Index(
            "ix_analytics_sentiment_cover",
            "last_at",
            "conversation_id",
            "first_at",
            "first_sentiment",
            "last_sentiment",
        ),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True
    )
    first_at: Mapped[datetime] = mapped_column()
    first_sentiment: Mapped[str] = mapped_column(String(8))
    last_at: Mapped[datetime] = mapped_column()
    last_sentiment: Mapped[str] = mapped_column(String(8))


class RollupState(Base):
    """Watermarks of the incremental refresh (the newest event id folded into the rollups)."""

    __tablename__ = "analytics_state"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class PostMetrics(Base):
    """Counts a platform gives for one of the brand's own posts (for engagement rate)."""

    __tablename__ = "analytics_post_metrics"

    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), primary_key=True)
    impressions: Mapped[int] = mapped_column(Integer, default=0)
    likes: Mapped[int] = mapped_column(Integer, default=0)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    shares: Mapped[int] = mapped_column(Integer, default=0)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CsatSurvey(Timestamped, Base):
    """One CSAT survey for one resolved conversation: sent (or skipped, with why) and answered."""

    __tablename__ = "csat_survey"
    __table_args__ = (Index("ix_csat_survey_customer_sent", "customer_id", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), unique=True
    )
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), default=None)
    # "sent" (handed to the outbox), "recorded" (ready, no outbox to send it), "skipped", "answered".
    status: Mapped[str] = mapped_column(String(12))
    skip_reason: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    channel: Mapped[str] = mapped_column(String(8), default="")  # "private" or "public"
    text: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    rating: Mapped[int | None] = mapped_column(Integer, default=None)
    comment: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    answered_via: Mapped[str] = mapped_column(String(8), default="")  # "reply" or "page"
    answer_message_id: Mapped[int | None] = mapped_column(Integer, default=None)


class ReportSchedule(Timestamped, Base):
    """A KPI report sent every week (or day) by email and/or to a webhook."""

    __tablename__ = "report_schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    every: Mapped[str] = mapped_column(String(8), default="weekly")  # "weekly" or "daily"
    weekday: Mapped[int] = mapped_column(Integer, default=0)  # 0 = Monday
    hour: Mapped[int] = mapped_column(Integer, default=8)  # UTC
    format: Mapped[str] = mapped_column(String(4), default="md")
    email_to: Mapped[str] = mapped_column(String(500), default="")
    webhook_url: Mapped[str] = mapped_column(String(500), default="")
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brand.id"), default=None)
    next_run_at: Mapped[datetime] = mapped_column()
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
