"""Agents and teams: who answers, with which skills and how much capacity."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from socialdesk.db.base import Base, JSONType, Timestamped, utcnow

ROLES = ("admin", "supervisor", "agent")
AVAILABILITY = ("online", "away", "offline")

team_membership = Table(
    "team_membership",
    Base.metadata,
    Column("team_id", ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
    Column("agent_id", ForeignKey("agent.id", ondelete="CASCADE"), primary_key=True),
)


class Team(Timestamped, Base):
    __tablename__ = "team"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brand.id"), default=None)
    languages: Mapped[list[str]] = mapped_column(JSONType, default=list)
    platforms: Mapped[list[str]] = mapped_column(JSONType, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Senior teams take VIP and high-urgency escalations.
    is_senior: Mapped[bool] = mapped_column(default=False)
    is_crisis: Mapped[bool] = mapped_column(default=False)

    agents: Mapped[list["Agent"]] = relationship(secondary=team_membership, back_populates="teams")


class Agent(Timestamped, Base):
    __tablename__ = "agent"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    role: Mapped[str] = mapped_column(String(16), default="agent")
    languages: Mapped[list[str]] = mapped_column(JSONType, default=list)
    platforms: Mapped[list[str]] = mapped_column(JSONType, default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=10)
    availability: Mapped[str] = mapped_column(String(8), default="offline")
    active: Mapped[bool] = mapped_column(default=True)
    last_assigned_at: Mapped[datetime | None] = mapped_column(default=None)

    teams: Mapped[list[Team]] = relationship(secondary=team_membership, back_populates="agents")


class RoutingConfig(Base):
    """Desk-wide routing settings (one row, id 1); admins change them through the API."""

    __tablename__ = "routing_config"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Conversations whose urgency is at least this go to the senior team.
    senior_urgency_threshold: Mapped[int] = mapped_column(Integer, default=70)
    route_vip_to_senior: Mapped[bool] = mapped_column(default=True)
    # When an agent goes offline their open conversations are routed again (else they stay).
    reassign_on_offline: Mapped[bool] = mapped_column(default=True)
    # How long before a breach the sla_warning event fires.
    sla_warning_minutes: Mapped[int] = mapped_column(Integer, default=15)
    # High-water mark of conversation_event ids the SLA ticker has looked at.
    sla_event_cursor: Mapped[int] = mapped_column(Integer, default=0)


class BusinessCalendar(Timestamped, Base):
    """Opening hours: a weekly schedule in one timezone, public holidays and closed days.

    ``schedule`` maps "mon".."sun" to a list of ["HH:MM", "HH:MM"] windows in local time.
    A calendar with ``team_id`` is that team's calendar and wins over a policy's calendar.
    """

    __tablename__ = "business_calendar"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("team.id", ondelete="CASCADE"), unique=True, default=None
    )
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    schedule: Mapped[dict[str, list[list[str]]]] = mapped_column(JSONType, default=dict)
    # ISO 3166 country (and optional subdivision) for the `holidays` library; "" = none.
    holiday_country: Mapped[str] = mapped_column(String(8), default="")
    holiday_subdivision: Mapped[str] = mapped_column(String(16), default="")
    # Extra closed days, "YYYY-MM-DD", in the calendar's timezone.
    closed_days: Mapped[list[str]] = mapped_column(JSONType, default=list)


class SlaPolicy(Timestamped, Base):
    """Response and resolution targets; the most specific active policy applies."""

    __tablename__ = "sla_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Scope: None/"" matches any.
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), default=None)
    platform: Mapped[str] = mapped_column(String(32), default="")
    priority: Mapped[str] = mapped_column(String(8), default="")
    # Targets in minutes; None means no target of that kind.
    first_response_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    next_response_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    resolution_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    business_hours: Mapped[bool] = mapped_column(default=False)
    calendar_id: Mapped[int | None] = mapped_column(
        ForeignKey("business_calendar.id", ondelete="SET NULL"), default=None
    )
    active: Mapped[bool] = mapped_column(default=True)


class SlaAlert(Base):
    """One warning or breach per clock cycle; the unique key makes the ticker idempotent."""

    __tablename__ = "sla_alert"
    __table_args__ = (UniqueConstraint("conversation_id", "target", "kind", "cycle_started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    target: Mapped[str] = mapped_column(String(16))  # first_response, next_response, resolution
    kind: Mapped[str] = mapped_column(String(16))  # sla_warning, sla_breach
    cycle_started_at: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime] = mapped_column()
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)
