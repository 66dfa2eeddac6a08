"""Agents and teams: who answers, with which skills and how much capacity."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from socialdesk.db.base import Base, JSONType, Timestamped

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
