"""Settings → SLA policies and business hours (admin): thin pages over routing.policies.

Forms are parsed here into the service's keyword arguments; every rule about what is valid
lives in the routing domain. A refused change re-shows the form with what was typed and the
reason, and the transaction is rolled back, so bad input changes nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal, audit
from socialdesk.brands.models import Brand
from socialdesk.conversations.models import PRIORITIES
from socialdesk.routing.calendar import DAYS
from socialdesk.routing.models import BusinessCalendar, SlaPolicy, Team
from socialdesk.web.deps import DbSession
from socialdesk.web.ui.settings import SettingsError, done_redirect, read_flash
from socialdesk.web.ui.views import page_for, render

router = APIRouter(include_in_schema=False)
TARGETS = ("first_response", "next_response", "resolution")


# --- form parsing -------------------------------------------------------------------------------


def _optional_int(form: dict[str, str], name: str, label: str) -> int | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{label} must be a whole number, not {raw!r}") from exc


def policy_values(form: dict[str, str]) -> dict[str, Any]:
    """The policy form → routing.policies keyword arguments (every field, so edits are complete)."""
    values: dict[str, Any] = {
        "name": (form.get("name") or "").strip(),
        "brand_id": _optional_int(form, "brand_id", "brand"),
        "platform": (form.get("platform") or "").strip().lower(),
        "priority": (form.get("priority") or "").strip(),
        "business_hours": form.get("business_hours") == "1",
        "calendar_id": _optional_int(form, "calendar_id", "calendar"),
        "active": form.get("active") == "1",
    }
    for target in TARGETS:
        label = target.replace("_", " ") + " target"
        values[f"{target}_minutes"] = _optional_int(form, f"{target}_minutes", label)
    from socialdesk.platforms.registry import PLATFORMS

    if values["platform"] and values["platform"] not in PLATFORMS:
        raise SettingsError(f"platform must be empty (any) or one of {', '.join(PLATFORMS)}")
    return values


def parse_windows(day: str, raw: str) -> list[list[str]]:
    """ "09:00-12:00, 13:00-17:30" → [["09:00", "12:00"], ["13:00", "17:30"]]; empty = closed."""
    windows = []
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        start, sep, end = part.replace("–", "-").partition("-")
        if not sep or not start.strip() or not end.strip():
            raise SettingsError(f"{day}: {part!r} is not a window like 09:00-17:00")
        windows.append([start.strip(), end.strip()])
    return windows


def calendar_values(form: dict[str, str]) -> dict[str, Any]:
    schedule = {}
    for day in DAYS:
        windows = parse_windows(day, form.get(f"day_{day}") or "")
        if windows:
            schedule[day] = windows
    closed = [d.strip() for d in (form.get("closed_days") or "").replace(",", "\n").splitlines() if d.strip()]
    return {
        "name": (form.get("name") or "").strip(),
        "team_id": _optional_int(form, "team_id", "team"),
        "timezone": (form.get("timezone") or "").strip() or "UTC",
        "schedule": schedule,
        "holiday_country": (form.get("holiday_country") or "").strip().upper(),
        "holiday_subdivision": (form.get("holiday_subdivision") or "").strip().upper(),
        "closed_days": closed,
    }


def policy_form(policy: SlaPolicy | None) -> dict[str, str]:
    """A stored policy as the strings its form shows (a new one: active, no targets)."""
    if policy is None:
        return {"active": "1"}
    form = {
        "name": policy.name,
        "brand_id": str(policy.brand_id or ""),
        "platform": policy.platform,
        "priority": policy.priority,
        "business_hours": "1" if policy.business_hours else "",
        "calendar_id": str(policy.calendar_id or ""),
        "active": "1" if policy.active else "",
    }
    for target in TARGETS:
        minutes = getattr(policy, f"{target}_minutes")
        form[f"{target}_minutes"] = "" if minutes is None else str(minutes)
    return form


def calendar_form(row: BusinessCalendar | None) -> dict[str, str]:
    if row is None:
        return {"timezone": "UTC", **{f"day_{d}": "09:00-17:00" for d in DAYS[:5]}}
    return {
        "name": row.name,
        "team_id": str(row.team_id or ""),
        "timezone": row.timezone,
        "holiday_country": row.holiday_country,
        "holiday_subdivision": row.holiday_subdivision,
        "closed_days": "\n".join(row.closed_days or []),
        **{f"day_{d}": ", ".join(f"{a}-{b}" for a, b in (row.schedule or {}).get(d, [])) for d in DAYS},
    }


# --- service calls ------------------------------------------------------------------------------


def _routing(call: Any, *args: Any, **kw: Any) -> Any:
    from socialdesk.routing.service import RoutingError

    try:
        return call(*args, **kw)
    except (RoutingError, ValueError) as exc:
        raise SettingsError(str(exc)) from exc


def save_policy(
    session: Session, policy_id: int | None, form: dict[str, str], *, actor: Principal
) -> SlaPolicy:
    from socialdesk.routing import policies

    values = policy_values(form)
    if policy_id is None:
        return _routing(policies.create_policy, session, actor=actor, **values)
    policy = _routing(policies.get_policy, session, policy_id)
    return _routing(policies.update_policy, session, policy, actor=actor, **values)


def delete_policy(session: Session, policy_id: int, *, actor: Principal) -> tuple[str, bool]:
    """Removes a policy that never timed a conversation; one that did is deactivated instead
    (as the API's DELETE does), so SLA reports can still name the targets those conversations
    were held to. Either way the most specific remaining policy takes over at their next event.
    Returns the name and whether the row is gone."""
    from socialdesk.conversations.models import Conversation
    from socialdesk.routing import policies

    policy = _routing(policies.get_policy, session, policy_id)
    name = policy.name
    used = session.scalar(select(Conversation.id).where(Conversation.sla_policy_id == policy_id).limit(1))
    if used is not None:
        policy.active = False
        audit(session, actor.name, "sla_policy.deactivate", f"sla_policy:{policy_id}", name=name)
        return name, False
    session.delete(policy)
    audit(session, actor.name, "sla_policy.delete", f"sla_policy:{policy_id}", name=name)
    return name, True


def save_calendar(
    session: Session, calendar_id: int | None, form: dict[str, str], *, actor: Principal
) -> BusinessCalendar:
    from socialdesk.routing import policies

    values = calendar_values(form)
    if calendar_id is None:
        return _routing(policies.create_calendar, session, actor=actor, **values)
    row = _routing(policies.get_calendar, session, calendar_id)
    return _routing(policies.update_calendar, session, row, actor=actor, **values)


def delete_calendar(session: Session, calendar_id: int, *, actor: Principal) -> str:
    from socialdesk.routing import policies

    row = _routing(policies.get_calendar, session, calendar_id)
    name = row.name
    # Policies that named it fall back to the team's calendar or the default week.
    for policy in session.scalars(select(SlaPolicy).where(SlaPolicy.calendar_id == calendar_id)):
        policy.calendar_id = None
    session.delete(row)
    audit(session, actor.name, "business_calendar.delete", f"business_calendar:{calendar_id}", name=name)
    return name


def save_warning_lead(session: Session, form: dict[str, str], *, actor: Principal) -> int:
    from socialdesk.routing.settings import update_config

    minutes = _optional_int(form, "sla_warning_minutes", "warning lead")
    if minutes is None:
        raise SettingsError("Enter the warning lead in minutes (0 turns warnings off).")
    _routing(update_config, session, sla_warning_minutes=minutes)
    audit(session, actor.name, "routing.settings", "routing_config", sla_warning_minutes=minutes)
    return minutes


# --- pages --------------------------------------------------------------------------------------


def _choices(session: Session) -> dict[str, Any]:
    from socialdesk.platforms.registry import PLATFORMS

    return {
        "brands": session.scalars(select(Brand).order_by(Brand.name)).all(),
        "teams": session.scalars(select(Team).order_by(Team.name)).all(),
        "calendars": session.scalars(select(BusinessCalendar).order_by(BusinessCalendar.name)).all(),
        "platforms": PLATFORMS,
        "priorities": PRIORITIES,
        "days": DAYS,
    }


def _overview(
    request: Request,
    session: Session,
    *,
    ok: str = "",
    error: str = "",
    status: int = 200,
    warning_form: dict[str, str] | None = None,
) -> HTMLResponse:
    from socialdesk.routing.settings import get_config

    choices = _choices(session)
    return render(
        request,
        "settings/sla.html",
        status,
        section="sla",
        policies=session.scalars(select(SlaPolicy).order_by(SlaPolicy.name)).all(),
        brand_names={b.id: b.name for b in choices["brands"]},
        team_names={t.id: t.name for t in choices["teams"]},
        calendar_names={c.id: c.name for c in choices["calendars"]},
        warning_minutes=(warning_form or {}).get(
            "sla_warning_minutes", get_config(session).sla_warning_minutes
        ),
        ok=ok,
        error=error,
        **choices,
    )


def _policy_page(
    request: Request,
    session: Session,
    policy_id: int | None,
    form: dict[str, str],
    *,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "settings/sla_policy.html",
        status,
        section="sla",
        policy_id=policy_id,
        form=form,
        error=error,
        **_choices(session),
    )


def _calendar_page(
    request: Request,
    session: Session,
    calendar_id: int | None,
    form: dict[str, str],
    *,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "settings/sla_calendar.html",
        status,
        section="sla",
        calendar_id=calendar_id,
        form=form,
        error=error,
        **_choices(session),
    )


async def _form(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.form()).items() if k != "csrf_token"}


def _done(message: str) -> Response:
    return done_redirect("/settings/sla", message)


@router.get("/settings/sla", response_class=HTMLResponse)
def sla_overview(request: Request, session: DbSession, ok: str = "") -> HTMLResponse:
    page_for(request, "admin")
    return _overview(request, session, ok=read_flash(ok))


@router.get("/settings/sla/policies/new", response_class=HTMLResponse)
def new_policy(request: Request, session: DbSession) -> HTMLResponse:
    page_for(request, "admin")
    return _policy_page(request, session, None, policy_form(None))


@router.get("/settings/sla/policies/{policy_id}", response_class=HTMLResponse)
def edit_policy(request: Request, policy_id: int, session: DbSession) -> HTMLResponse:
    page_for(request, "admin")
    policy = session.get(SlaPolicy, policy_id)
    if policy is None:
        raise HTTPException(404, f"no SLA policy with id {policy_id}")
    return _policy_page(request, session, policy_id, policy_form(policy))


@router.post("/settings/sla/policies/new", response_class=HTMLResponse)
async def create_policy(request: Request, session: DbSession) -> Response:
    return await _save_policy(request, session, None)


@router.post("/settings/sla/policies/{policy_id}/edit", response_class=HTMLResponse)
async def update_policy(request: Request, policy_id: int, session: DbSession) -> Response:
    return await _save_policy(request, session, policy_id)


async def _save_policy(request: Request, session: Session, policy_id: int | None) -> Response:
    principal = page_for(request, "admin")
    form = await _form(request)
    try:
        policy = save_policy(session, policy_id, form, actor=principal)
        session.commit()
    except SettingsError as exc:
        session.rollback()
        return _policy_page(request, session, policy_id, form, error=str(exc), status=400)
    return _done(f"SLA policy {policy.name} saved.")


@router.post("/settings/sla/policies/{policy_id}/delete", response_class=HTMLResponse)
def remove_policy(request: Request, policy_id: int, session: DbSession) -> Response:
    principal = page_for(request, "admin")
    try:
        name, gone = delete_policy(session, policy_id, actor=principal)
        session.commit()
    except SettingsError as exc:
        session.rollback()
        return _overview(request, session, error=str(exc), status=404)
    if gone:
        return _done(f"SLA policy {name} deleted.")
    return _done(f"SLA policy {name} deactivated: conversations it timed keep it in their history.")


@router.get("/settings/sla/calendars/new", response_class=HTMLResponse)
def new_calendar(request: Request, session: DbSession) -> HTMLResponse:
    page_for(request, "admin")
    return _calendar_page(request, session, None, calendar_form(None))


@router.get("/settings/sla/calendars/{calendar_id}", response_class=HTMLResponse)
def edit_calendar(request: Request, calendar_id: int, session: DbSession) -> HTMLResponse:
    page_for(request, "admin")
    row = session.get(BusinessCalendar, calendar_id)
    if row is None:
        raise HTTPException(404, f"no business calendar with id {calendar_id}")
    return _calendar_page(request, session, calendar_id, calendar_form(row))


@router.post("/settings/sla/calendars/new", response_class=HTMLResponse)
async def create_calendar(request: Request, session: DbSession) -> Response:
    return await _save_calendar(request, session, None)


@router.post("/settings/sla/calendars/{calendar_id}/edit", response_class=HTMLResponse)
async def update_calendar(request: Request, calendar_id: int, session: DbSession) -> Response:
    return await _save_calendar(request, session, calendar_id)


async def _save_calendar(request: Request, session: Session, calendar_id: int | None) -> Response:
    principal = page_for(request, "admin")
    form = await _form(request)
    try:
        row = save_calendar(session, calendar_id, form, actor=principal)
        session.commit()
    except SettingsError as exc:
        session.rollback()
        return _calendar_page(request, session, calendar_id, form, error=str(exc), status=400)
    return _done(f"Business hours {row.name} saved.")


@router.post("/settings/sla/calendars/{calendar_id}/delete", response_class=HTMLResponse)
def remove_calendar(request: Request, calendar_id: int, session: DbSession) -> Response:
    principal = page_for(request, "admin")
    try:
        name = delete_calendar(session, calendar_id, actor=principal)
        session.commit()
    except SettingsError as exc:
        session.rollback()
        return _overview(request, session, error=str(exc), status=404)
    return _done(f"Business hours {name} deleted.")


@router.post("/settings/sla/warning/save", response_class=HTMLResponse)
async def warning_lead(request: Request, session: DbSession) -> Response:
    principal = page_for(request, "admin")
    form = await _form(request)
    try:
        minutes = save_warning_lead(session, form, actor=principal)
        session.commit()
    except SettingsError as exc:
        session.rollback()
        return _overview(request, session, error=str(exc), status=400, warning_form=form)
    return _done(f"SLA warnings now fire {minutes} minutes before a breach.")
