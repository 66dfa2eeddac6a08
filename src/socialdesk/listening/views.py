"""/api/v1/listening: rules and previews, mentions, alerts, alert destinations, crises."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from socialdesk.auth.service import Principal, audit
from socialdesk.listening import alerts, crisis, service
from socialdesk.listening.models import AlertDestination, Crisis, ListeningRule
from socialdesk.web.deps import CurrentPrincipal, DbSession, require_role

router = APIRouter(prefix="/api/v1/listening", tags=["listening"])
Manager = Annotated[Principal, require_role("supervisor", "admin")]


class RuleIn(BaseModel):
    brand: str = Field(description="brand slug")
    name: str = Field(min_length=1, max_length=200)
    kind: str = "brand"
    query: str = Field(min_length=1, max_length=4000)


class RulePatch(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    kind: str | None = None
    query: str | None = Field(default=None, max_length=4000)
    active: bool | None = None


class PreviewIn(BaseModel):
    query: str = Field(min_length=1, max_length=4000)
    since: str = "7d"
    brand: str | None = None
    samples: int = Field(default=5, ge=0, le=50)


class SnoozeIn(BaseModel):
    minutes: int = Field(ge=1, le=10080)


class DestinationIn(BaseModel):
    kind: str
    target: str = Field(min_length=1, max_length=500)
    brand: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class CrisisIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    query: str | None = Field(default=None, max_length=4000)
    alert_id: int | None = None
    brand: str | None = None
    team_id: int | None = None
    holding_statement: str = ""
    pause_all_automation: bool = False


class CloseIn(BaseModel):
    summary: str = Field(min_length=1)


class ActionIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class StatementIn(BaseModel):
    holding_statement: str = Field(min_length=1)


def _rule_dict(rule: ListeningRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "brand_id": rule.brand_id,
        "name": rule.name,
        "kind": rule.kind,
        "query": rule.query,
        "active": rule.active,
        "created_by": rule.created_by,
        "created_at": rule.created_at.isoformat(),
        "updated_at": rule.updated_at.isoformat(),
    }


def _bad(exc: service.RuleError) -> HTTPException:
    return HTTPException(422, exc.details)


def _brand_id(session, slug: str | None) -> int | None:
    if slug is None:
        return None
    try:
        return service._brand(session, slug).id
    except service.RuleError as exc:
        raise HTTPException(404, str(exc)) from exc


def _rule(session, rule_id: int) -> ListeningRule:
    rule = session.get(ListeningRule, rule_id)
    if rule is None:
        raise HTTPException(404, f"listening rule {rule_id} does not exist")
    return rule


# --- rules ------------------------------------------------------------------------------------


@router.get("/rules")
def list_rules(
    session: DbSession, principal: CurrentPrincipal, brand: str | None = None
) -> list[dict[str, Any]]:
    stmt = select(ListeningRule).order_by(ListeningRule.id)
    if brand is not None:
        stmt = stmt.where(ListeningRule.brand_id == _brand_id(session, brand))
    return [_rule_dict(r) for r in session.scalars(stmt)]


@router.post("/rules", status_code=201)
def create_rule(body: RuleIn, session: DbSession, principal: Manager) -> dict[str, Any]:
    try:
        rule = service.create_rule(
            session, brand=body.brand, name=body.name, kind=body.kind, query=body.query, actor=principal.name
        )
    except service.RuleError as exc:
        raise _bad(exc) from exc
    audit(session, principal.name, "listening.rule.create", f"listening_rule:{rule.id}", query=rule.query)
    return _rule_dict(rule)


@router.get("/rules/{rule_id}")
def get_rule(rule_id: int, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    return _rule_dict(_rule(session, rule_id))


@router.patch("/rules/{rule_id}")
def patch_rule(rule_id: int, body: RulePatch, session: DbSession, principal: Manager) -> dict[str, Any]:
    rule = _rule(session, rule_id)
    try:
        service.update_rule(session, rule, **body.model_dump())
    except service.RuleError as exc:
        raise _bad(exc) from exc
    audit(
        session,
        principal.name,
        "listening.rule.update",
        f"listening_rule:{rule.id}",
        **body.model_dump(exclude_none=True),
    )
    return _rule_dict(rule)


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: int, session: DbSession, principal: Manager) -> None:
    rule = _rule(session, rule_id)
    audit(session, principal.name, "listening.rule.delete", f"listening_rule:{rule.id}", query=rule.query)
    service.delete_rule(session, rule)


@router.post("/rules/preview")
def preview(body: PreviewIn, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    try:
        return service.preview(session, body.query, since=body.since, brand=body.brand, samples=body.samples)
    except service.RuleError as exc:
        raise _bad(exc) from exc


@router.get("/rules/{rule_id}/preview")
def preview_rule(
    rule_id: int, session: DbSession, principal: CurrentPrincipal, since: str = "7d"
) -> dict[str, Any]:
    rule = _rule(session, rule_id)
    try:
        return service.preview(session, rule.query, since=since, brand=rule.brand_id)
    except service.RuleError as exc:
        raise _bad(exc) from exc


# --- mentions ---------------------------------------------------------------------------------


@router.get("/mentions")
def list_mentions(
    session: DbSession,
    principal: CurrentPrincipal,
    rule_id: int | None = None,
    brand: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    brand_id = _brand_id(session, brand)
    return service.list_mentions(session, rule_id=rule_id, brand=brand_id, since=since, limit=limit)


# --- alerts -----------------------------------------------------------------------------------


@router.get("/alerts")
def list_alerts(
    session: DbSession,
    principal: CurrentPrincipal,
    status: str | None = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    if status is not None and status not in ("open", "acknowledged", "snoozed", "active"):
        raise HTTPException(422, f"unknown status {status!r}; expected open, acknowledged, snoozed or active")
    return [alerts.alert_dict(a) for a in alerts.list_alerts(session, status=status, kind=kind, limit=limit)]


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: int, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    try:
        return alerts.alert_dict(alerts.get_alert(session, alert_id))
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.post("/alerts/{alert_id}/ack")
def ack_alert(alert_id: int, session: DbSession, principal: Manager) -> dict[str, Any]:
    try:
        alert = alerts.acknowledge(session, alert_id, principal.name)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    audit(session, principal.name, "listening.alert.ack", f"listening_alert:{alert_id}")
    return alerts.alert_dict(alert)


@router.post("/alerts/{alert_id}/snooze")
def snooze_alert(alert_id: int, body: SnoozeIn, session: DbSession, principal: Manager) -> dict[str, Any]:
    try:
        alert = alerts.snooze(session, alert_id, body.minutes, principal.name)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    audit(
        session, principal.name, "listening.alert.snooze", f"listening_alert:{alert_id}", minutes=body.minutes
    )
    return alerts.alert_dict(alert)


@router.get("/alert-destinations")
def list_destinations(session: DbSession, principal: Manager) -> list[dict[str, Any]]:
    return [
        alerts.destination_dict(d)
        for d in session.scalars(select(AlertDestination).order_by(AlertDestination.id))
    ]


@router.post("/alert-destinations", status_code=201)
def add_destination(body: DestinationIn, session: DbSession, principal: Manager) -> dict[str, Any]:
    try:
        dest = alerts.add_destination(
            session,
            kind=body.kind,
            target=body.target,
            brand_id=_brand_id(session, body.brand),
            options=body.options,
        )
    except alerts.AlertError as exc:
        raise HTTPException(422, str(exc)) from exc
    audit(session, principal.name, "listening.destination.add", f"listening_alert_destination:{dest.id}")
    return alerts.destination_dict(dest)


@router.delete("/alert-destinations/{dest_id}", status_code=204)
def delete_destination(dest_id: int, session: DbSession, principal: Manager) -> None:
    dest = session.get(AlertDestination, dest_id)
    if dest is None:
        raise HTTPException(404, f"alert destination {dest_id} does not exist")
    session.delete(dest)
    audit(session, principal.name, "listening.destination.delete", f"listening_alert_destination:{dest_id}")


# --- crises -----------------------------------------------------------------------------------


@router.get("/crises")
def list_crises(
    session: DbSession, principal: CurrentPrincipal, status: str | None = None
) -> list[dict[str, Any]]:
    stmt = select(Crisis).order_by(Crisis.declared_at.desc())
    if status is not None:
        stmt = stmt.where(Crisis.status == status)
    return [crisis.crisis_dict(c) for c in session.scalars(stmt)]


@router.post("/crises", status_code=201)
def declare_crisis(body: CrisisIn, session: DbSession, principal: Manager) -> dict[str, Any]:
    try:
        row = crisis.declare(
            session,
            name=body.name,
            actor=principal.name,
            query=body.query,
            alert_id=body.alert_id,
            brand_id=_brand_id(session, body.brand),
            team_id=body.team_id,
            holding_statement=body.holding_statement,
            pause_all_automation=body.pause_all_automation,
        )
    except crisis.CrisisError as exc:
        raise HTTPException(422, str(exc)) from exc
    audit(session, principal.name, "listening.crisis.declare", f"crisis:{row.id}", query=row.query)
    return crisis.crisis_dict(row)


@router.get("/crises/holding-statement")
def holding_statement(
    conversation_id: int, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    found = crisis.holding_statement(session, conversation_id)
    if found is None:
        raise HTTPException(404, f"conversation {conversation_id} is not in an active crisis")
    return found


def _crisis_call(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    except crisis.CrisisError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/crises/{crisis_id}")
def get_crisis(crisis_id: int, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    return crisis.crisis_dict(_crisis_call(crisis.get, session, crisis_id))


@router.get("/crises/{crisis_id}/timeline")
def crisis_timeline(
    crisis_id: int, session: DbSession, principal: CurrentPrincipal, bucket_minutes: int = 60
) -> dict[str, Any]:
    return _crisis_call(crisis.timeline, session, crisis_id, bucket_minutes)


@router.post("/crises/{crisis_id}/actions", status_code=201)
def crisis_action(crisis_id: int, body: ActionIn, session: DbSession, principal: Manager) -> dict[str, Any]:
    ev = _crisis_call(crisis.record_action, session, crisis_id, body.text, principal.name)
    return {"id": ev.id, "kind": ev.kind, "at": ev.at.isoformat(), "actor": ev.actor, "data": ev.data}


@router.put("/crises/{crisis_id}/holding-statement")
def crisis_statement(
    crisis_id: int, body: StatementIn, session: DbSession, principal: Manager
) -> dict[str, Any]:
    row = _crisis_call(crisis.update_statement, session, crisis_id, body.holding_statement, principal.name)
    audit(session, principal.name, "listening.crisis.statement", f"crisis:{crisis_id}")
    return crisis.crisis_dict(row)


@router.post("/crises/{crisis_id}/close")
def close_crisis(crisis_id: int, body: CloseIn, session: DbSession, principal: Manager) -> dict[str, Any]:
    row = _crisis_call(crisis.close, session, crisis_id, body.summary, principal.name)
    audit(session, principal.name, "listening.crisis.close", f"crisis:{crisis_id}")
    return crisis.crisis_dict(row)
