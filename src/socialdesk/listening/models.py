"""Listening rules, mentions, spike counters, alerts and crises."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from socialdesk.db.base import Base, JSONType, Timestamped, utcnow

RULE_KINDS = ("brand", "product", "competitor", "campaign")
ALERT_KINDS = ("spike", "issue_spike", "negative_share", "emerging")
ALERT_STATUSES = ("open", "acknowledged", "snoozed")
DESTINATION_KINDS = ("webhook", "email")


class ListeningRule(Timestamped, Base):
    __tablename__ = "listening_rule"
    __table_args__ = (UniqueConstraint("brand_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="brand")
    query: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mention(Base):
    """A message that matched at least one listening rule."""

    __tablename__ = "mention"
    __table_args__ = (Index("ix_mention_brand_sent", "brand_id", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), unique=True)
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    sentiment: Mapped[str] = mapped_column(String(8), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    rules: Mapped[list["MentionRule"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def rule_ids(self) -> list[int]:
        return sorted(r.rule_id for r in self.rules)


class MentionRule(Base):
    __tablename__ = "mention_rule"
    __table_args__ = (Index("ix_mention_rule_rule_sent", "rule_id", "sent_at"),)

    mention_id: Mapped[int] = mapped_column(ForeignKey("mention.id", ondelete="CASCADE"), primary_key=True)
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("listening_rule.id", ondelete="CASCADE"), primary_key=True
    )
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


# Counter rows per (series, minute): a message adds to shard `message.id % COUNT_SHARDS`, so
# concurrent workers on one busy brand rarely wait on the same row lock; readers sum the shards.
COUNT_SHARDS = 8


class SeriesCount(Base):
    """Messages per minute in one series ("rule:7", "issue:refund_billing", "brand:2:negative"),
    split over a few shards (see COUNT_SHARDS); a series' count is the sum over its shards."""

    __tablename__ = "listening_count"

    series: Mapped[str] = mapped_column(String(200), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    shard: Mapped[int] = mapped_column(
        SmallInteger, primary_key=True, autoincrement=False, default=0, server_default="0"
    )
    count: Mapped[int] = mapped_column(Integer, default=0)


class PhraseHit(Base):
    """A key phrase of a negative message that no rule matched (the raw material of emerging issues)."""

    __tablename__ = "listening_phrase_hit"
    __table_args__ = (
        UniqueConstraint("phrase", "message_id"),
        Index("ix_listening_phrase_hit_phrase_at", "phrase", "at"),
        Index("ix_listening_phrase_hit_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phrase: Mapped[str] = mapped_column(String(120))
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    brand_id: Mapped[int | None] = mapped_column(Integer, default=None)
    author: Mapped[str] = mapped_column(String(128), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Timestamped, Base):
    __tablename__ = "listening_alert"
    __table_args__ = (Index("ix_listening_alert_series_last", "series", "last_seen_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    series: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), default=None)
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("listening_rule.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[str] = mapped_column(String(16), default="open")
    window_start: Mapped[datetime] = mapped_column(default=utcnow)
    window_end: Mapped[datetime] = mapped_column(default=utcnow)
    observed: Mapped[float] = mapped_column(default=0.0)
    expected: Mapped[float] = mapped_column(default=0.0)
    score: Mapped[float] = mapped_column(default=0.0)
    examples: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_by: Mapped[str] = mapped_column(String(200), default="")
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    snoozed_until: Mapped[datetime | None] = mapped_column(default=None)
    # Per destination id: {"status": "sent"|"failed", "attempts": n, "error": "..."}.
    deliveries: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class AlertDestination(Timestamped, Base):
    """Where alerts go besides the API: a Slack-compatible webhook URL or an e-mail address."""

    __tablename__ = "listening_alert_destination"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(500))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), default=None)
    # email: smtp_host, smtp_port, sender, starttls, username, password (write-only).
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    active: Mapped[bool] = mapped_column(default=True)


class Crisis(Base):
    __tablename__ = "crisis"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), default=None)
    query: Mapped[str] = mapped_column(Text)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id", ondelete="SET NULL"), default=None)
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("listening_alert.id", ondelete="SET NULL"), default=None
    )
    holding_statement: Mapped[str] = mapped_column(Text, default="")
    # Pause automation for every conversation of the brand, not only the matching ones.
    pause_all_automation: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    declared_by: Mapped[str] = mapped_column(String(200), default="")
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_by: Mapped[str] = mapped_column(String(200), default="")
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class CrisisConversation(Base):
    __tablename__ = "crisis_conversation"

    crisis_id: Mapped[int] = mapped_column(ForeignKey("crisis.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CrisisEvent(Base):
    """The crisis timeline: declared, messages matched (with sentiment), actions, closed."""

    __tablename__ = "crisis_event"
    __table_args__ = (Index("ix_crisis_event_crisis_at", "crisis_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    crisis_id: Mapped[int] = mapped_column(ForeignKey("crisis.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
