"""Alert pages: the list, one alert (window, observed vs expected, score, examples), acknowledge
and snooze; the navigation badge and the toast a live ``listening.alert`` event brings.

Thin handlers over ``socialdesk.listening.alerts``; supervisors and admins only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from socialdesk.auth.service import audit
from socialdesk.brands.models import Brand
from socialdesk.db.base import utcnow
from socialdesk.listening import alerts
from socialdesk.listening.models import Alert, Crisis, ListeningRule
from socialdesk.web.deps import DbSession
from socialdesk.web.ui.views import MANAGERS, page_for, render

router = APIRouter(include_in_schema=False)
STATUSES = ("active", "open", "acknowledged", "snoozed", "all")
SNOOZE_CHOICES = ((15, "15 minutes"), (60, "1 hour"), (240, "4 hours"), (1440, "1 day"))


def _alert_or_404(session: Session, alert_id: int) -> Alert:
    try:
        return alerts.get_alert(session, alert_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc


def active_count(session: Session) -> int:
    """Alerts that want attention: open, or snoozed until a time now past (as the API's "active")."""
    now = utcnow()
    return (
        session.scalar(
            select(func.count(Alert.id)).where(
                or_(Alert.status == "open", (Alert.status == "snoozed") & (Alert.snoozed_until <= now))
            )
        )
        or 0
    )


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, session: DbSession, status: str = "active") -> HTMLResponse:
    page_for(request, *MANAGERS)
    if status not in STATUSES:
        raise HTTPException(400, f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    rows = alerts.list_alerts(session, status=None if status == "all" else status, limit=200)
    brands = dict(session.execute(select(Brand.id, Brand.name)).all())
    return render(
        request,
        "listening/alerts.html",
        rows=rows,
        status=status,
        statuses=STATUSES,
        brands=brands,
        tab="alerts",
    )


def _detail(
    request: Request, session: Session, alert: Alert, error: str = "", status: int = 200
) -> HTMLResponse:
    rule = session.get(ListeningRule, alert.rule_id) if alert.rule_id else None
    crises = session.scalars(select(Crisis).where(Crisis.alert_id == alert.id).order_by(Crisis.id)).all()
    return render(
        request,
        "listening/alert.html",
        status,
        alert=alert,
        rule=rule,
        brand=session.get(Brand, alert.brand_id) if alert.brand_id else None,
        crises=crises,
        snooze_choices=SNOOZE_CHOICES,
        error=error,
        now=utcnow(),
        tab="alerts",
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: int, session: DbSession) -> HTMLResponse:
    page_for(request, *MANAGERS)
    return _detail(request, session, _alert_or_404(session, alert_id))


@router.post("/alerts/{alert_id}/ack")
def acknowledge(request: Request, alert_id: int, session: DbSession) -> Response:
    principal = page_for(request, *MANAGERS)
    _alert_or_404(session, alert_id)
    alerts.acknowledge(session, alert_id, principal.name)
    audit(session, principal.name, "listening.alert.ack", f"listening_alert:{alert_id}")
    session.commit()
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@router.post("/alerts/{alert_id}/snooze", response_class=HTMLResponse)
def snooze(
    request: Request, alert_id: int, session: DbSession, minutes: Annotated[str, Form()] = ""
) -> Response:
    principal = page_for(request, *MANAGERS)
    alert = _alert_or_404(session, alert_id)
    try:
        if not minutes.strip().isdigit():
            raise alerts.AlertError("choose how long to snooze (minutes)")
        alerts.snooze(session, alert_id, int(minutes), principal.name)
    except alerts.AlertError as exc:
        session.rollback()
        return _detail(request, session, _alert_or_404(session, alert.id), error=str(exc), status=400)
    audit(
        session, principal.name, "listening.alert.snooze", f"listening_alert:{alert_id}", minutes=int(minutes)
    )
    session.commit()
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@router.get("/ui/alerts/badge", response_class=HTMLResponse)
def badge(request: Request, session: DbSession) -> HTMLResponse:
    page_for(request, *MANAGERS)
    return render(request, "listening/_alert_badge.html", count=active_count(session))


@router.get("/ui/alerts/{alert_id}/toast", response_class=HTMLResponse)
def toast(request: Request, alert_id: int, session: DbSession) -> HTMLResponse:
    page_for(request, *MANAGERS)
    return render(request, "listening/_alert_toast.html", alert=_alert_or_404(session, alert_id))
