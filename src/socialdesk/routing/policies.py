"""Admin edits of SLA policies and business calendars (validated; every change audited)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal, audit
from socialdesk.brands.models import Brand
from socialdesk.conversations.models import PRIORITIES
from socialdesk.routing.calendar import Calendar, CalendarError
from socialdesk.routing.models import BusinessCalendar, SlaPolicy, Team
from socialdesk.routing.service import NotFound, RoutingError, ensure_admin

POLICY_FIELDS = (
    "name",
    "brand_id",
    "platform",
    "priority",
    "first_response_minutes",
    "next_response_minutes",
    "resolution_minutes",
    "business_hours",
    "calendar_id",
    "active",
)
CALENDAR_FIELDS = (
    "name",
    "team_id",
    "timezone",
    "schedule",
    "holiday_country",
    "holiday_subdivision",
    "closed_days",
)
MAX_TARGET_MINUTES = 60 * 24 * 365


def _check_policy(session: Session, values: dict[str, Any]) -> None:
    if not str(values.get("name") or "").strip():
        raise RoutingError("a policy needs a name")
    if values.get("priority") and values["priority"] not in PRIORITIES:
        raise RoutingError(f"priority must be empty (any) or one of {', '.join(PRIORITIES)}")
    if values.get("brand_id") is not None and session.get(Brand, values["brand_id"]) is None:
        raise RoutingError(f"brand {values['brand_id']} does not exist")
    if values.get("calendar_id") is not None and session.get(BusinessCalendar, values["calendar_id"]) is None:
        raise RoutingError(f"business calendar {values['calendar_id']} does not exist")
    targets = [values.get(f"{t}_minutes") for t in ("first_response", "next_response", "resolution")]
    if all(t is None for t in targets):
        raise RoutingError("a policy needs at least one target (first_response, next_response or resolution)")
    for t in targets:
        if t is not None and not (isinstance(t, int) and 1 <= t <= MAX_TARGET_MINUTES):
            raise RoutingError(f"targets are whole minutes from 1 to {MAX_TARGET_MINUTES}")


def create_policy(session: Session, *, actor: Principal, **values: Any) -> SlaPolicy:
    ensure_admin(actor)
    unknown = set(values) - set(POLICY_FIELDS)
    if unknown:
        raise RoutingError(f"unknown field(s) {sorted(unknown)}")
    values.setdefault("platform", "")
    values.setdefault("priority", "")
    values["platform"] = (values["platform"] or "").lower()
    values["priority"] = values["priority"] or ""
    _check_policy(session, values)
    policy = SlaPolicy(**{"business_hours": False, "active": True, **values})
    session.add(policy)
    session.flush()
    audit(session, actor.name, "sla_policy.create", f"sla_policy:{policy.id}", name=policy.name)
    return policy


def update_policy(session: Session, policy: SlaPolicy, *, actor: Principal, **changes: Any) -> SlaPolicy:
    ensure_admin(actor)
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise RoutingError(f"unknown field(s) {sorted(unknown)}")
    merged = {f: getattr(policy, f) for f in POLICY_FIELDS} | changes
    merged["platform"] = (merged["platform"] or "").lower()
    merged["priority"] = merged["priority"] or ""
    _check_policy(session, merged)
    for key in changes:
        setattr(policy, key, merged[key])
    audit(session, actor.name, "sla_policy.update", f"sla_policy:{policy.id}", fields=sorted(changes))
    return policy


def get_policy(session: Session, policy_id: int) -> SlaPolicy:
    policy = session.get(SlaPolicy, policy_id)
    if policy is None:
        raise NotFound(f"SLA policy {policy_id} does not exist")
    return policy


def _check_calendar(session: Session, values: dict[str, Any], existing_id: int | None = None) -> None:
    if not str(values.get("name") or "").strip():
        raise RoutingError("a calendar needs a name")
    team_id = values.get("team_id")
    if team_id is not None:
        if session.get(Team, team_id) is None:
            raise RoutingError(f"team {team_id} does not exist")
        other = session.scalar(select(BusinessCalendar.id).where(BusinessCalendar.team_id == team_id))
        if other is not None and other != existing_id:
            raise RoutingError(f"team {team_id} already has calendar {other}")
    try:
        Calendar.build(
            timezone=values.get("timezone") or "UTC",
            schedule=values.get("schedule") or {},
            holiday_country=values.get("holiday_country") or "",
            holiday_subdivision=values.get("holiday_subdivision") or "",
            closed_days=values.get("closed_days") or [],
        )
    except CalendarError as exc:
        raise RoutingError(str(exc)) from exc


def create_calendar(session: Session, *, actor: Principal, **values: Any) -> BusinessCalendar:
    ensure_admin(actor)
    unknown = set(values) - set(CALENDAR_FIELDS)
    if unknown:
        raise RoutingError(f"unknown field(s) {sorted(unknown)}")
    if values.get("team_id") is not None and not values.get("timezone"):
        team = session.get(Team, values["team_id"])
        values["timezone"] = team.timezone if team else "UTC"
    _check_calendar(session, values)
    row = BusinessCalendar(
        **{"timezone": "UTC", "holiday_country": "", "holiday_subdivision": "", "closed_days": [], **values}
    )
    row.holiday_country = (row.holiday_country or "").upper()
    session.add(row)
    session.flush()
    audit(session, actor.name, "business_calendar.create", f"business_calendar:{row.id}", name=row.name)
    return row


def update_calendar(
    session: Session, row: BusinessCalendar, *, actor: Principal, **changes: Any
) -> BusinessCalendar:
    ensure_admin(actor)
    unknown = set(changes) - set(CALENDAR_FIELDS)
    if unknown:
        raise RoutingError(f"unknown field(s) {sorted(unknown)}")
    merged = {f: getattr(row, f) for f in CALENDAR_FIELDS} | changes
    _check_calendar(session, merged, existing_id=row.id)
    for key in changes:
        setattr(row, key, merged[key])
    audit(
        session, actor.name, "business_calendar.update", f"business_calendar:{row.id}", fields=sorted(changes)
    )
    return row


def get_calendar(session: Session, calendar_id: int) -> BusinessCalendar:
    row = session.get(BusinessCalendar, calendar_id)
    if row is None:
        raise NotFound(f"business calendar {calendar_id} does not exist")
    return row
