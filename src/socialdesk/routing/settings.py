"""The desk-wide routing settings row (admins change it; everyone else reads it)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from socialdesk.routing.models import RoutingConfig

EDITABLE = ("senior_urgency_threshold", "route_vip_to_senior", "reassign_on_offline", "sla_warning_minutes")


def get_config(session: Session, *, for_update: bool = False) -> RoutingConfig:
    """The settings row, created with defaults on first use."""
    if not for_update:
        # Routing reads this on every decision: keep one strong reference per session (the
        # identity map alone is weak and would reload it each time).
        cached = session.info.get("routing_config")
        if cached is not None and cached in session:
            return cached
    query = select(RoutingConfig).where(RoutingConfig.id == 1)
    if for_update:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        from sqlalchemy import func

        from socialdesk.conversations.models import ConversationEvent

        # History before the first tick is not "new": the SLA sweep starts from here.
        cursor = session.scalar(select(func.max(ConversationEvent.id))) or 0
        try:
            with session.begin_nested():
                row = RoutingConfig(
                    id=1,
                    senior_urgency_threshold=70,
                    route_vip_to_senior=True,
                    reassign_on_offline=True,
                    sla_warning_minutes=15,
                    sla_event_cursor=cursor,
                )
                session.add(row)
        except IntegrityError:  # another process created it first
            row = session.scalar(query)
    assert row is not None
    session.info["routing_config"] = row
    return row


def update_config(session: Session, **changes: object) -> RoutingConfig:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; editable: {', '.join(EDITABLE)}")
    threshold = changes.get("senior_urgency_threshold")
    if threshold is not None and not (isinstance(threshold, int) and 0 <= threshold <= 101):
        raise ValueError("senior_urgency_threshold must be an integer from 0 to 101 (101 = never)")
    lead = changes.get("sla_warning_minutes")
    if lead is not None and not (isinstance(lead, int) and 0 <= lead <= 10_080):
        raise ValueError("sla_warning_minutes must be an integer from 0 to 10080")
    row = get_config(session)
    for key, value in changes.items():
        if value is not None:
            setattr(row, key, value)
    return row
