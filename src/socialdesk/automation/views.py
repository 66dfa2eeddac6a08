"""/api/v1/automation: rules (admins write, supervisors read), dry runs and the run log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from socialdesk.auth.service import audit
from socialdesk.automation import engine
from socialdesk.automation.models import AutomationRule, AutomationRun
from socialdesk.web.deps import CurrentPrincipal, DbSession, require_role

router = APIRouter(prefix="/api/v1/automation", tags=["automation"])
Admin = require_role("admin")
Manager = require_role("admin", "supervisor")

EXAMPLE_CONDITIONS = {
    "all": [
        {"field": "platform", "op": "eq", "value": "instagram"},
        {"field": "language", "op": "eq", "value": "de"},
        {"field": "sentiment", "op": "eq", "value": "negative"},
    ]
}


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    event: str
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    active: bool
    position: int
    created_at: datetime


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    event: str = Field(description=", ".join(engine.EVENTS))
    conditions: dict[str, Any] = Field(default={}, examples=[EXAMPLE_CONDITIONS])
    actions: list[dict[str, Any]] = Field(examples=[[{"type": "assign_team", "team_id": 1}]])
    active: bool = True
    position: int = 100


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str | None = None
    event: str | None = None
    conditions: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = None
    active: bool | None = None
    position: int | None = None


class DryRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str
    conditions: dict[str, Any] = {}
    since: datetime | None = None
    until: datetime | None = None


class DryRunOut(BaseModel):
    examined: int
    matched: int
    truncated: bool
    samples: list[dict[str, Any]]


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: int
    conversation_id: int | None
    event: str
    at: datetime
    results: list[dict[str, Any]]


def _rule(session: DbSession, rule_id: int) -> AutomationRule:
    rule = engine.get_rule(session, rule_id)
    if rule is None:
        raise HTTPException(404, f"automation rule {rule_id} does not exist")
    return rule


@router.get("/rules", response_model=list[RuleOut], dependencies=[Manager])
def list_rules(session: DbSession) -> list[RuleOut]:
    rows = session.scalars(select(AutomationRule).order_by(AutomationRule.position, AutomationRule.id))
    return [RuleOut.model_validate(r) for r in rows]


@router.post("/rules", response_model=RuleOut, status_code=201, dependencies=[Admin])
def create_rule(body: RuleIn, session: DbSession, principal: CurrentPrincipal) -> RuleOut:
    try:
        rule = engine.create_rule(session, actor=principal, **body.model_dump())
    except engine.AutomationError as exc:
        raise HTTPException(422, str(exc)) from exc
    return RuleOut.model_validate(rule)


@router.get("/rules/{rule_id}", response_model=RuleOut, dependencies=[Manager])
def get_rule(rule_id: int, session: DbSession) -> RuleOut:
    return RuleOut.model_validate(_rule(session, rule_id))


@router.patch("/rules/{rule_id}", response_model=RuleOut, dependencies=[Admin])
def update_rule(rule_id: int, body: RuleUpdate, session: DbSession, principal: CurrentPrincipal) -> RuleOut:
    rule = _rule(session, rule_id)
    try:
        engine.update_rule(session, rule, actor=principal, **body.model_dump(exclude_unset=True))
    except engine.AutomationError as exc:
        raise HTTPException(422, str(exc)) from exc
    return RuleOut.model_validate(rule)


@router.delete("/rules/{rule_id}", status_code=204, dependencies=[Admin])
def delete_rule(rule_id: int, session: DbSession, principal: CurrentPrincipal) -> Response:
    rule = _rule(session, rule_id)
    session.delete(rule)
    audit(session, principal.name, "automation.rule.delete", f"rule:{rule_id}")
    return Response(status_code=204)


@router.post("/rules/{rule_id}/dry-run", response_model=DryRunOut, dependencies=[Manager])
def dry_run_rule(
    rule_id: int,
    session: DbSession,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DryRunOut:
    """Which stored events (default: the last 7 days) the saved rule would have fired on."""
    rule = _rule(session, rule_id)
    try:
        result = engine.dry_run(
            session, event=rule.event, conditions=rule.conditions, since=since, until=until
        )
    except engine.AutomationError as exc:
        raise HTTPException(422, str(exc)) from exc
    return DryRunOut.model_validate(result.to_dict())


@router.post("/dry-run", response_model=DryRunOut, dependencies=[Manager])
def dry_run_spec(body: DryRunIn, session: DbSession) -> DryRunOut:
    """Try conditions before saving a rule: how many stored events they would have matched."""
    try:
        result = engine.dry_run(
            session, event=body.event, conditions=body.conditions, since=body.since, until=body.until
        )
    except engine.AutomationError as exc:
        raise HTTPException(422, str(exc)) from exc
    return DryRunOut.model_validate(result.to_dict())


@router.get("/runs", response_model=list[RunOut], dependencies=[Manager])
def list_runs(
    session: DbSession,
    rule_id: int | None = None,
    conversation_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[RunOut]:
    """What the rules did, newest first, with each action's outcome."""
    query = select(AutomationRun).order_by(AutomationRun.id.desc()).limit(limit)
    if rule_id is not None:
        query = query.where(AutomationRun.rule_id == rule_id)
    if conversation_id is not None:
        query = query.where(AutomationRun.conversation_id == conversation_id)
    return [RunOut.model_validate(r) for r in session.scalars(query)]
