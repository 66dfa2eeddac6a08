"""Crisis pages: declare on a query or from an alert, the live timeline (volume, sentiment,
actions), the holding statement, actions, and closing with a summary.

Thin handlers over ``socialdesk.listening.crisis``; supervisors and admins only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.auth.service import audit
from socialdesk.brands.models import Brand
from socialdesk.listening import alerts, crisis
from socialdesk.listening.models import Alert, Crisis
from socialdesk.routing.models import Team
from socialdesk.web.deps import DbSession
from socialdesk.web.ui.views import MANAGERS, page_for, render

router = APIRouter(include_in_schema=False)
BUCKETS = (5, 15, 60, 240)


def _crisis_or_404(session: Session, crisis_id: int) -> Crisis:
    try:
        return crisis.get(session, crisis_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc


def _optional_id(raw: str, what: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise crisis.CrisisError(f"{what} must be a number")
    return int(raw)


def _list(request: Request, session: Session, values: dict[str, Any], error: str = "", status: int = 200):
    rows = session.scalars(select(Crisis).order_by(Crisis.status, Crisis.declared_at.desc())).all()
    return render(
        request,
        "listening/crises.html",
        status,
        rows=rows,
        values=values,
        error=error,
        brands=list(session.scalars(select(Brand).order_by(Brand.name))),
        teams=list(session.scalars(select(Team).order_by(Team.is_crisis.desc(), Team.name))),
        open_alerts=alerts.list_alerts(session, limit=50),
        tab="crisis",
    )


@router.get("/crisis", response_class=HTMLResponse)
def crises_page(request: Request, session: DbSession, alert_id: str = "", query: str = "") -> HTMLResponse:
    page_for(request, *MANAGERS)
    values: dict[str, Any] = {"alert_id": alert_id.strip(), "query": query}
    if alert_id.strip().isdigit():
        alert = session.get(Alert, int(alert_id))
        if alert is not None:
            values["name"] = alert.title[:200]
    return _list(request, session, values)


@router.post("/crisis", response_class=HTMLResponse)
def declare(
    request: Request,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
    alert_id: Annotated[str, Form()] = "",
    brand: Annotated[str, Form()] = "",
    team_id: Annotated[str, Form()] = "",
    holding_statement: Annotated[str, Form()] = "",
    pause_all_automation: Annotated[str, Form()] = "",
) -> Response:
    principal = page_for(request, *MANAGERS)
    values = {
        "name": name,
        "query": query,
        "alert_id": alert_id,
        "brand": brand,
        "team_id": team_id,
        "holding_statement": holding_statement,
        "pause_all_automation": bool(pause_all_automation),
    }
    try:
        brand_id = None
        if brand.strip():
            brand_id = session.scalar(select(Brand.id).where(Brand.slug == brand.strip()))
            if brand_id is None:
                raise crisis.CrisisError(f"no brand named {brand!r}")
        row = crisis.declare(
            session,
            name=name,
            actor=principal.name,
            query=query.strip() or None,
            alert_id=_optional_id(alert_id, "the alert"),
            brand_id=brand_id,
            team_id=_optional_id(team_id, "the team"),
            holding_statement=holding_statement.strip(),
            pause_all_automation=bool(pause_all_automation),
        )
    except crisis.CrisisError as exc:
        session.rollback()
        return _list(request, session, values, error=str(exc), status=400)
    audit(session, principal.name, "listening.crisis.declare", f"crisis:{row.id}", query=row.query)
    session.commit()
    return RedirectResponse(f"/crisis/{row.id}", status_code=303)


def _timeline(session: Session, crisis_id: int, bucket: int) -> dict[str, Any]:
    if bucket not in BUCKETS:
        raise HTTPException(400, f"bucket must be one of {', '.join(map(str, BUCKETS))} minutes")
    data = crisis.timeline(session, crisis_id, bucket)
    data["volume_max"] = max((b["messages"] for b in data["volume"]), default=0)
    return data


def _detail(
    request: Request, session: Session, row: Crisis, bucket: int = 15, error: str = "", status: int = 200
) -> HTMLResponse:
    return render(
        request,
        "listening/crisis.html",
        status,
        crisis=row,
        brand=session.get(Brand, row.brand_id) if row.brand_id else None,
        team=session.get(Team, row.team_id) if row.team_id else None,
        t=_timeline(session, row.id, bucket),
        bucket=bucket,
        buckets=BUCKETS,
        error=error,
        tab="crisis",
    )


@router.get("/crisis/{crisis_id}", response_class=HTMLResponse)
def crisis_page(request: Request, crisis_id: int, session: DbSession, bucket: int = 15) -> HTMLResponse:
    page_for(request, *MANAGERS)
    return _detail(request, session, _crisis_or_404(session, crisis_id), bucket)


@router.get("/ui/crisis/{crisis_id}/timeline", response_class=HTMLResponse)
def crisis_timeline(request: Request, crisis_id: int, session: DbSession, bucket: int = 15) -> HTMLResponse:
    page_for(request, *MANAGERS)
    row = _crisis_or_404(session, crisis_id)
    return render(
        request, "listening/_timeline.html", crisis=row, t=_timeline(session, row.id, bucket), bucket=bucket
    )


def _write(request: Request, session: Session, crisis_id: int, action: str, fn: Any, *args: Any) -> Response:
    """Run one crisis change; a refusal re-renders the page with the reason (400)."""
    principal = page_for(request, *MANAGERS)
    row = _crisis_or_404(session, crisis_id)
    try:
        fn(session, crisis_id, *args, principal.name)
    except crisis.CrisisError as exc:
        session.rollback()
        return _detail(request, session, _crisis_or_404(session, row.id), error=str(exc), status=400)
    audit(session, principal.name, action, f"crisis:{crisis_id}")
    session.commit()
    return RedirectResponse(f"/crisis/{crisis_id}", status_code=303)


@router.post("/crisis/{crisis_id}/statement", response_class=HTMLResponse)
def statement(
    request: Request, crisis_id: int, session: DbSession, holding_statement: Annotated[str, Form()] = ""
) -> Response:
    if not holding_statement.strip():
        page_for(request, *MANAGERS)
        row = _crisis_or_404(session, crisis_id)
        return _detail(request, session, row, error="the holding statement cannot be empty", status=400)
    return _write(
        request,
        session,
        crisis_id,
        "listening.crisis.statement",
        crisis.update_statement,
        holding_statement.strip(),
    )


@router.post("/crisis/{crisis_id}/actions", response_class=HTMLResponse)
def action(
    request: Request, crisis_id: int, session: DbSession, text: Annotated[str, Form()] = ""
) -> Response:
    return _write(request, session, crisis_id, "listening.crisis.action", crisis.record_action, text[:2000])


@router.post("/crisis/{crisis_id}/close", response_class=HTMLResponse)
def close(
    request: Request, crisis_id: int, session: DbSession, summary: Annotated[str, Form()] = ""
) -> Response:
    return _write(request, session, crisis_id, "listening.crisis.close", crisis.close, summary)
