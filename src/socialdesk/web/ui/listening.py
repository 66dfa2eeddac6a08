"""Listening pages: rules per brand, the rule editor with a live preview over history, mentions.

Thin handlers over ``socialdesk.listening.service``; like the JSON API (listening/views.py),
every write is for supervisors and admins, and so are the pages themselves.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.auth.service import audit
from socialdesk.brands.models import Brand
from socialdesk.db.base import utcnow
from socialdesk.listening import service
from socialdesk.listening.models import RULE_KINDS, ListeningRule, MentionRule
from socialdesk.web.deps import DbSession
from socialdesk.web.ui.views import MANAGERS, page_for, render

router = APIRouter(include_in_schema=False)
PREVIEW_PERIODS = ("24h", "7d", "30d")


def _brands(session: Session) -> list[Brand]:
    return list(session.scalars(select(Brand).order_by(Brand.name)))


def _rule_or_404(session: Session, rule_id: int) -> ListeningRule:
    rule = session.get(ListeningRule, rule_id)
    if rule is None:
        raise HTTPException(404, f"listening rule {rule_id} does not exist")
    return rule


def mention_counts(session: Session, days: int = 7) -> dict[int, int]:
    """Mentions per rule over the last ``days`` (the (rule_id, sent_at) index)."""
    since = utcnow() - timedelta(days=days)
    rows = session.execute(
        select(MentionRule.rule_id, func.count())
        .where(MentionRule.sent_at >= since)
        .group_by(MentionRule.rule_id)
    )
    return {rule_id: n for rule_id, n in rows}


@router.get("/listening", response_class=HTMLResponse)
def rules_page(request: Request, session: DbSession, brand: str = "") -> HTMLResponse:
    page_for(request, *MANAGERS)
    brands = _brands(session)
    shown = [b for b in brands if not brand or b.slug == brand]
    if brand and not shown:
        raise HTTPException(404, f"no brand named {brand!r}")
    rules = session.scalars(
        select(ListeningRule)
        .where(ListeningRule.brand_id.in_([b.id for b in shown]))
        .order_by(ListeningRule.kind, ListeningRule.name)
    ).all()
    by_brand = {b.id: [r for r in rules if r.brand_id == b.id] for b in shown}
    return render(
        request,
        "listening/rules.html",
        brands=brands,
        shown=shown,
        brand=brand,
        by_brand=by_brand,
        counts=mention_counts(session),
        tab="rules",
    )


def _form(
    request: Request,
    session: Session,
    *,
    rule: ListeningRule | None,
    values: dict[str, Any],
    error: str = "",
    details: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "listening/rule_form.html",
        status,
        rule=rule,
        values=values,
        brands=_brands(session),
        kinds=RULE_KINDS,
        periods=PREVIEW_PERIODS,
        error=error,
        details=details,
        tab="rules",
    )


@router.get("/listening/rules/new", response_class=HTMLResponse)
def new_rule(request: Request, session: DbSession, brand: str = "") -> HTMLResponse:
    page_for(request, *MANAGERS)
    return _form(
        request, session, rule=None, values={"brand": brand, "kind": "brand", "query": "", "name": ""}
    )


@router.post("/listening/rules", response_class=HTMLResponse)
def create_rule(
    request: Request,
    session: DbSession,
    brand: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "brand",
    query: Annotated[str, Form()] = "",
) -> Response:
    principal = page_for(request, *MANAGERS)
    values = {"brand": brand, "name": name, "kind": kind, "query": query}
    try:
        if not query.strip():
            raise service.RuleError("a rule needs a query")
        rule = service.create_rule(
            session, brand=brand, name=name, kind=kind, query=query, actor=principal.name
        )
    except service.RuleError as exc:
        session.rollback()
        return _form(
            request, session, rule=None, values=values, error=str(exc), details=exc.details, status=400
        )
    audit(session, principal.name, "listening.rule.create", f"listening_rule:{rule.id}", query=rule.query)
    session.commit()
    return RedirectResponse(f"/listening/rules/{rule.id}", status_code=303)


@router.get("/listening/rules/{rule_id}/edit", response_class=HTMLResponse)
def edit_rule(request: Request, rule_id: int, session: DbSession) -> HTMLResponse:
    page_for(request, *MANAGERS)
    rule = _rule_or_404(session, rule_id)
    brand = session.get(Brand, rule.brand_id)
    values = {
        "brand": brand.slug if brand else "",
        "name": rule.name,
        "kind": rule.kind,
        "query": rule.query,
        "active": rule.active,
    }
    return _form(request, session, rule=rule, values=values)


@router.post("/listening/rules/{rule_id}", response_class=HTMLResponse)
def update_rule(
    request: Request,
    rule_id: int,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "brand",
    query: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
) -> Response:
    principal = page_for(request, *MANAGERS)
    rule = _rule_or_404(session, rule_id)
    brand = session.get(Brand, rule.brand_id)
    values = {
        "brand": brand.slug if brand else "",
        "name": name,
        "kind": kind,
        "query": query,
        "active": bool(active),
    }
    try:
        if not query.strip():
            raise service.RuleError("a rule needs a query")
        service.update_rule(session, rule, name=name, kind=kind, query=query, active=bool(active))
    except service.RuleError as exc:
        session.rollback()
        rule = _rule_or_404(session, rule_id)
        return _form(
            request, session, rule=rule, values=values, error=str(exc), details=exc.details, status=400
        )
    audit(
        session,
        principal.name,
        "listening.rule.update",
        f"listening_rule:{rule.id}",
        name=name,
        kind=kind,
        query=query,
        active=bool(active),
    )
    session.commit()
    return RedirectResponse(f"/listening/rules/{rule.id}", status_code=303)


@router.post("/listening/rules/{rule_id}/delete")
def delete_rule(request: Request, rule_id: int, session: DbSession) -> Response:
    principal = page_for(request, *MANAGERS)
    rule = _rule_or_404(session, rule_id)
    brand = session.get(Brand, rule.brand_id)
    audit(session, principal.name, "listening.rule.delete", f"listening_rule:{rule.id}", query=rule.query)
    service.delete_rule(session, rule)
    session.commit()
    return RedirectResponse(f"/listening?brand={brand.slug}" if brand else "/listening", status_code=303)


@router.get("/listening/preview", response_class=HTMLResponse)
def preview(
    request: Request, session: DbSession, query: str = "", brand: str = "", since: str = "7d"
) -> HTMLResponse:
    """What the query would have matched: count, per day, a few samples; or where it is wrong."""
    page_for(request, *MANAGERS)
    if not query.strip():
        return render(request, "listening/_preview.html", result=None, error="", details=None, query=query)
    try:
        result = service.preview(session, query, since=since, brand=brand or None, samples=5)
    except service.RuleError as exc:
        return render(
            request, "listening/_preview.html", result=None, error=str(exc), details=exc.details, query=query
        )
    return render(request, "listening/_preview.html", result=result, error="", details=None, query=query)


def _mentions(session: Session, rule: ListeningRule) -> list[dict[str, Any]]:
    return service.list_mentions(session, rule_id=rule.id, limit=50)


@router.get("/listening/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(request: Request, rule_id: int, session: DbSession) -> HTMLResponse:
    page_for(request, *MANAGERS)
    rule = _rule_or_404(session, rule_id)
    return render(
        request,
        "listening/rule.html",
        rule=rule,
        brand=session.get(Brand, rule.brand_id),
        mentions=_mentions(session, rule),
        count=mention_counts(session).get(rule.id, 0),
        tab="rules",
    )


@router.get("/ui/listening/rules/{rule_id}/mentions", response_class=HTMLResponse)
def rule_mentions(request: Request, rule_id: int, session: DbSession) -> HTMLResponse:
    page_for(request, *MANAGERS)
    rule = _rule_or_404(session, rule_id)
    return render(request, "listening/_mentions.html", mentions=_mentions(session, rule))
