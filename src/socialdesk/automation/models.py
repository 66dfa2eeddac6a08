"""Automation rules and the log of what they did."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, JSONType, Timestamped, utcnow

EVENTS = (
    "message_created",
    "conversation_created",
    "conversation_updated",
    "conversation_reopened",
    "sla_warning",
    "sla_breach",
    "assignment_changed",
)


class AutomationRule(Timestamped, Base):
    """When ``event`` happens and ``conditions`` hold, run ``actions`` in order.

    ``conditions`` is a tree: {"all": [...]} / {"any": [...]} of such trees or of leaves
    {"field": ..., "op": ..., "value": ...}; an empty tree always holds.
    """

    __tablename__ = "automation_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    event: Mapped[str] = mapped_column(String(32), index=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    # Lower runs first among the rules of one event.
    position: Mapped[int] = mapped_column(Integer, default=100)


class AutomationRun(Base):
    """One rule firing on one conversation: what it did and whether each action worked."""

    __tablename__ = "automation_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rule.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True, default=None
    )
    event: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
