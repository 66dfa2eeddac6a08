"""Settings → automation rules (admin): list, edit, switch on/off, delete, dry-run over history.

The editor is a plain form: conditions are groups of tests (field, operator, value), joined
with AND or OR inside each group and between groups; actions are rows of (type, parameter).
It is turned into the automation domain's JSON tree here; validation stays in
``automation.engine``. A tree the form cannot show (deeper nesting) is edited as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal, audit
from socialdesk.automation.actions import ACTION_TYPES
from socialdesk.automation.conditions import BOOL_FIELDS, NUMBER_FIELDS, OPS
from socialdesk.automation.models import EVENTS, AutomationRule, AutomationRun
from socialdesk.web.deps import DbSession
from socialdesk.web.ui.settings import SettingsError, done_redirect, read_flash
from socialdesk.web.ui.views import page_for, render

router = APIRouter(include_in_schema=False)
GROUPS = 3  # condition groups the form shows
ROWS = 4  # tests per group
ACTION_ROWS = 5
MODES = {"all": "AND (all of)", "any": "OR (any of)"}
ACTION_HINTS = {
    "assign_agent": "agent id or e-mail",
    "assign_team": "team id or slug",
    "set_priority": "urgent / high / normal / low",
    "add_label": "labels, comma separated",
    "remove_label": "labels, comma separated",
    "send_template": "template id or shortcode",
    "snooze": "minutes",
    "resolve": "(none)",
    "mute": "(none)",
    "webhook": "https://…",
    "escalate": "(none)",
}
DRY_RUN_DAYS = 30


# --- conditions: tree <-> form -----------------------------------------------------------------


@dataclass(slots=True)
class Group:
    mode: str = "all"
    tests: list[dict[str, str]] = field(default_factory=list)


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _leaf(test: dict[str, Any]) -> bool:
    return set(test) == {"field", "op", "value"}


def tree_to_groups(tree: dict[str, Any]) -> tuple[str, list[Group]] | None:
    """(join between groups, groups) for trees of depth ≤ 2; None when the form cannot show it."""
    if not tree:
        return "all", []
    if _leaf(tree):
        return "all", [Group("all", [_test_text(tree)])]
    mode = "all" if "all" in tree else "any"
    items = tree.get(mode) or []
    if all(_leaf(i) for i in items):
        return "all", [Group(mode, [_test_text(i) for i in items])]
    groups = []
    for item in items:
        if _leaf(item):
            groups.append(Group("all", [_test_text(item)]))
        else:
            inner = "all" if "all" in item else "any"
            if len(item) != 1 or not all(_leaf(i) for i in item.get(inner) or []):
                return None
            groups.append(Group(inner, [_test_text(i) for i in item[inner]]))
    return mode, groups


def _test_text(leaf: dict[str, Any]) -> dict[str, str]:
    return {"field": str(leaf["field"]), "op": str(leaf["op"]), "value": _value_text(leaf["value"])}


def _typed_value(name: str, op: str, raw: str, where: str) -> Any:
    raw = raw.strip()
    if op in ("in", "not_in"):
        return [v.strip() for v in raw.split(",") if v.strip()]
    if name in NUMBER_FIELDS:
        try:
            return int(raw)
        except ValueError as exc:
            raise SettingsError(f"{where}: {name} compares with a whole number, not {raw!r}") from exc
    if name in BOOL_FIELDS:
        if raw.lower() not in ("true", "false", "yes", "no"):
            raise SettingsError(f"{where}: {name} is true or false")
        return raw.lower() in ("true", "yes")
    return raw


def conditions_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The grouped form (or its JSON box) → the condition tree; empty rows are ignored."""
    raw_json = (form.get("conditions_json") or "").strip()
    if raw_json:
        try:
            tree = json.loads(raw_json)
        except ValueError as exc:
            raise SettingsError(f"conditions: not valid JSON ({exc})") from exc
        if not isinstance(tree, dict):
            raise SettingsError("conditions: expected a JSON object")
        return tree
    groups = []
    for g in range(GROUPS):
        mode = form.get(f"g{g}_mode") or "all"
        if mode not in MODES:
            raise SettingsError(f"group {g + 1}: join must be all or any")
        tests = []
        for r in range(ROWS):
            name = (form.get(f"g{g}_field_{r}") or "").strip()
            op = (form.get(f"g{g}_op_{r}") or "").strip()
            value = form.get(f"g{g}_value_{r}") or ""
            if not name and not value.strip():
                continue
            where = f"group {g + 1}, test {r + 1}"
            if name not in OPS:
                raise SettingsError(f"{where}: choose a field")
            tests.append({"field": name, "op": op, "value": _typed_value(name, op, value, where)})
        if tests:
            groups.append({mode: tests})
    if not groups:
        return {}
    if len(groups) == 1:
        return groups[0]
    join = form.get("join") or "all"
    if join not in MODES:
        raise SettingsError("the join between groups must be all or any")
    return {join: groups}


def describe(tree: dict[str, Any], top: bool = True) -> str:
    """A condition tree in words for the rules list: platform eq x AND (text contains refund OR …)."""
    if not tree:
        return "always"
    if _leaf(tree):
        return f"{tree['field']} {tree['op']} {_value_text(tree['value'])}"
    mode = "all" if "all" in tree else "any"
    parts = [describe(item, top=False) for item in tree.get(mode) or []]
    text = f" {'AND' if mode == 'all' else 'OR'} ".join(parts)
    return text if top or len(parts) == 1 else f"({text})"


# --- actions: list <-> form --------------------------------------------------------------------


def action_param_text(action: dict[str, Any]) -> str:
    kind = action.get("type")
    key = {
        "assign_agent": "agent_id",
        "assign_team": "team_id",
        "set_priority": "priority",
        "add_label": "labels",
        "remove_label": "labels",
        "send_template": "template_id",
        "snooze": "minutes",
        "webhook": "url",
    }.get(str(kind))
    return _value_text(action.get(key, "")) if key else ""


def _lookup_id(session: Session, model: Any, raw: str, column: Any, what: str, where: str) -> int:
    if raw.isdigit():
        return int(raw)
    found = session.scalar(select(model.id).where(func.lower(column) == raw.lower()))
    if found is None:
        raise SettingsError(f"{where}: no {what} {raw!r}")
    return int(found)


def actions_from_form(session: Session, form: dict[str, str]) -> list[dict[str, Any]]:
    from socialdesk.assist.models import ReplyTemplate
    from socialdesk.routing.models import Agent, Team

    actions: list[dict[str, Any]] = []
    for i in range(ACTION_ROWS):
        kind = (form.get(f"action_{i}") or "").strip()
        param = (form.get(f"param_{i}") or "").strip()
        if not kind:
            if param:
                raise SettingsError(f"action {i + 1}: choose what to do")
            continue
        where = f"action {i + 1} ({kind})"
        if kind not in ACTION_TYPES:
            raise SettingsError(f"{where}: unknown action")
        action: dict[str, Any] = {"type": kind}
        if kind == "assign_agent":
            action["agent_id"] = _lookup_id(session, Agent, param, Agent.email, "agent", where)
        elif kind == "assign_team":
            action["team_id"] = _lookup_id(session, Team, param, Team.slug, "team", where)
        elif kind == "send_template":
            action["template_id"] = _lookup_id(
                session, ReplyTemplate, param.lstrip("/"), ReplyTemplate.shortcode, "template", where
            )
        elif kind == "set_priority":
            action["priority"] = param
        elif kind in ("add_label", "remove_label"):
            action["labels"] = [x.strip() for x in param.split(",") if x.strip()]
        elif kind == "snooze":
            if not param.isdigit():
                raise SettingsError(f"{where}: minutes must be a whole number")
            action["minutes"] = int(param)
        elif kind == "webhook":
            action["url"] = param
        actions.append(action)
    return actions


def rule_form(rule: AutomationRule | None) -> dict[str, Any]:
    """What the editor shows: plain fields, the groups, the action rows, or the JSON box."""
    if rule is None:
        return {
            "name": "",
            "description": "",
            "event": "message_created",
            "position": "100",
            "active": "1",
            "join": "all",
            "groups": [],
            "actions": [],
            "conditions_json": "",
        }
    shown = tree_to_groups(rule.conditions or {})
    return {
        "name": rule.name,
        "description": rule.description,
        "event": rule.event,
        "position": str(rule.position),
        "active": "1" if rule.active else "",
        "join": shown[0] if shown else "all",
        "groups": shown[1] if shown else [],
        "conditions_json": "" if shown else json.dumps(rule.conditions, indent=1),
        "actions": [{"type": a.get("type", ""), "param": action_param_text(a)} for a in rule.actions or []],
    }


def form_echo(form: dict[str, str]) -> dict[str, Any]:
    """A refused form, shown again as typed."""
    groups = []
    for g in range(GROUPS):
        tests = [{k: form.get(f"g{g}_{k}_{r}", "") for k in ("field", "op", "value")} for r in range(ROWS)]
        groups.append(Group(form.get(f"g{g}_mode") or "all", tests))
    return {
        **{k: form.get(k, "") for k in ("name", "description", "event", "position", "active", "join")},
        "conditions_json": form.get("conditions_json", ""),
        "groups": groups,
        "actions": [
            {"type": form.get(f"action_{i}", ""), "param": form.get(f"param_{i}", "")}
            for i in range(ACTION_ROWS)
        ],
    }


# --- service calls ------------------------------------------------------------------------------


def save_rule(
    session: Session, rule_id: int | None, form: dict[str, str], *, actor: Principal
) -> AutomationRule:
    from socialdesk.automation.engine import AutomationError, create_rule, update_rule

    position_raw = (form.get("position") or "100").strip()
    if not position_raw.lstrip("-").isdigit():
        raise SettingsError("order must be a whole number")
    values = {
        "name": (form.get("name") or "").strip(),
        "description": (form.get("description") or "").strip(),
        "event": (form.get("event") or "").strip(),
        "conditions": conditions_from_form(form),
        "actions": actions_from_form(session, form),
        "active": form.get("active") == "1",
        "position": int(position_raw),
    }
    try:
        if rule_id is None:
            return create_rule(session, actor=actor, **values)
        return update_rule(session, _rule(session, rule_id), actor=actor, **values)
    except AutomationError as exc:
        raise SettingsError(str(exc)) from exc


def _rule(session: Session, rule_id: int) -> AutomationRule:
    rule = session.get(AutomationRule, rule_id)
    if rule is None:
        raise SettingsError(f"no automation rule with id {rule_id}")
    return rule


def set_active(session: Session, rule_id: int, active: bool, *, actor: Principal) -> AutomationRule:
    from socialdesk.automation.engine import AutomationError, update_rule

    try:
        return update_rule(session, _rule(session, rule_id), actor=actor, active=active)
    except AutomationError as exc:  # a rule stored before a referenced agent/template went away
        raise SettingsError(str(exc)) from exc


def delete_rule(session: Session, rule_id: int, *, actor: Principal) -> str:
    rule = _rule(session, rule_id)
    name = rule.name
    session.execute(AutomationRun.__table__.delete().where(AutomationRun.rule_id == rule_id))
    session.delete(rule)
    audit(session, actor.name, "automation.rule.delete", f"rule:{rule_id}", name=name)
    return name


@dataclass(slots=True)
class DryRunMatch:
    conversation_id: int
    at: Any
    subject: str
    customer: str
    platform: str
    status: str


def dry_run(session: Session, rule_id: int, days: int = DRY_RUN_DAYS) -> tuple[Any, list[DryRunMatch]]:
    """The stored rule against the last ``days`` of stored history; nothing is changed."""
    rule = _rule(session, rule_id)
    return dry_run_conditions(session, rule.event, rule.conditions, days)


def dry_run_conditions(
    session: Session, event: str, conditions: dict[str, Any], days: int = DRY_RUN_DAYS
) -> tuple[Any, list[DryRunMatch]]:
    """An event and conditions (saved or not) against stored history; the matched conversations."""
    from socialdesk.automation.engine import AutomationError
    from socialdesk.automation.engine import dry_run as run
    from socialdesk.conversations.models import Conversation
    from socialdesk.db.base import utcnow

    if not 1 <= days <= 365:
        raise SettingsError("the dry run looks back 1 to 365 days")
    now = utcnow()
    try:
        result = run(session, event=event, conditions=conditions, since=now - timedelta(days=days), until=now)
    except AutomationError as exc:
        raise SettingsError(str(exc)) from exc
    matches = []
    seen: set[int] = set()
    for sample in result.samples:
        cid = sample["conversation_id"]
        if cid in seen:
            continue
        seen.add(cid)
        c = session.get(Conversation, cid)
        if c is not None:
            who = c.customer.name if c.customer is not None else ""
            matches.append(DryRunMatch(cid, sample["at"], c.subject or "", who, c.platform, c.status))
    return result, matches


def _days(form: dict[str, str]) -> int:
    raw = (form.get("days") or str(DRY_RUN_DAYS)).strip()
    if not raw.isdigit():
        raise SettingsError("days must be a whole number")
    return int(raw)


# --- pages --------------------------------------------------------------------------------------


def _list_page(
    request: Request,
    session: Session,
    *,
    ok: str = "",
    error: str = "",
    status: int = 200,
    dry: Any = None,
    dry_rule: AutomationRule | None = None,
    matches: Any = None,
    days: int = DRY_RUN_DAYS,
) -> HTMLResponse:
    rules = session.scalars(
        select(AutomationRule).order_by(AutomationRule.event, AutomationRule.position, AutomationRule.id)
    ).all()
    return render(
        request,
        "settings/automation.html",
        status,
        section="automation",
        rules=rules,
        summaries={r.id: describe(r.conditions or {}) for r in rules},
        ok=ok,
        error=error,
        dry=dry,
        dry_title=dry_rule.name if dry_rule else "",
        dry_event=dry_rule.event if dry_rule else "",
        matches=matches or [],
        days=days,
    )


def _editor(
    request: Request,
    session: Session,
    rule_id: int | None,
    form: dict[str, Any],
    *,
    error: str = "",
    status: int = 200,
    dry: Any = None,
    matches: Any = None,
    days: int = DRY_RUN_DAYS,
) -> HTMLResponse:
    groups = list(form.get("groups") or [])
    groups += [Group() for _ in range(GROUPS - len(groups))]
    for g in groups:
        g.tests = list(g.tests) + [{"field": "", "op": "", "value": ""} for _ in range(ROWS - len(g.tests))]
    actions = list(form.get("actions") or [])
    actions += [{"type": "", "param": ""} for _ in range(ACTION_ROWS - len(actions))]
    return render(
        request,
        "settings/automation_rule.html",
        status,
        section="automation",
        rule_id=rule_id,
        form=form,
        groups=groups[:GROUPS],
        actions=actions[:ACTION_ROWS],
        events=EVENTS,
        modes=MODES,
        fields=sorted(OPS),
        ops=sorted({op for ops in OPS.values() for op in ops}),
        ops_by_field=OPS,
        action_types=ACTION_TYPES,
        action_hints=ACTION_HINTS,
        error=error,
        dry=dry,
        dry_title="these conditions (not saved)",
        dry_event=form.get("event", ""),
        matches=matches or [],
        days=days,
    )


async def _form(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.form()).items() if k != "csrf_token"}


def _done(message: str) -> Response:
    return done_redirect("/settings/automation", message)


@router.get("/settings/automation", response_class=HTMLResponse)
def automation_page(request: Request, session: DbSession, ok: str = "") -> HTMLResponse:
    page_for(request, "admin")
    return _list_page(request, session, ok=read_flash(ok))


@router.get("/settings/automation/rules/new", response_class=HTMLResponse)
def new_rule(request: Request, session: DbSession) -> HTMLResponse:
    page_for(request, "admin")
    return _editor(request, session, None, rule_form(None))


@router.get("/settings/automation/rules/{rule_id}", response_class=HTMLResponse)
def edit_rule(request: Request, rule_id: int, session: DbSession) -> HTMLResponse:
    page_for(request, "admin")
    rule = session.get(AutomationRule, rule_id)
    if rule is None:
        raise HTTPException(404, f"no automation rule with id {rule_id}")
    return _editor(request, session, rule_id, rule_form(rule))


@router.post("/settings/automation/rules/new", response_class=HTMLResponse)
async def create(request: Request, session: DbSession) -> Response:
    return await _save(request, session, None)


@router.post("/settings/automation/rules/{rule_id}/edit", response_class=HTMLResponse)
async def update(request: Request, rule_id: int, session: DbSession) -> Response:
    return await _save(request, session, rule_id)


async def _save(request: Request, session: Session, rule_id: int | None) -> Response:
    principal = page_for(request, "admin")
    form = await _form(request)
    try:
        rule = save_rule(session, rule_id, form, actor=principal)
        session.commit()
    except SettingsError as exc:
        session.rollback()
        return _editor(request, session, rule_id, form_echo(form), error=str(exc), status=400)
    return _done(f"Automation rule {rule.name} saved{'' if rule.active else ' (off)'}.")


@router.post("/settings/automation/rules/{rule_id}/toggle", response_class=HTMLResponse)
async def toggle(request: Request, rule_id: int, session: DbSession) -> Response:
    principal = page_for(request, "admin")
    form = await _form(request)
    try:
        if form.get("active") not in ("0", "1"):
            raise SettingsError("active must be 0 or 1")
        rule = set_active(session, rule_id, form["active"] == "1", actor=principal)
        session.commit()
    except SettingsError as exc:
        session.rollback()
        return _list_page(request, session, error=str(exc), status=400)
    return _done(f"Automation rule {rule.name} {'enabled' if rule.active else 'disabled'}.")


@router.post("/settings/automation/rules/{rule_id}/delete", response_class=HTMLResponse)
def remove(request: Request, rule_id: int, session: DbSession) -> Response:
    principal = page_for(request, "admin")
    try:
        name = delete_rule(session, rule_id, actor=principal)
        session.commit()
    except SettingsError as exc:
        session.rollback()
        return _list_page(request, session, error=str(exc), status=404)
    return _done(f"Automation rule {name} deleted.")


@router.post("/settings/automation/rules/{rule_id}/dry-run", response_class=HTMLResponse)
async def dry_run_page(request: Request, rule_id: int, session: DbSession) -> Response:
    page_for(request, "admin")
    form = await _form(request)
    try:
        days = _days(form)
        result, matches = dry_run(session, rule_id, days)
    except SettingsError as exc:
        session.rollback()
        return _list_page(request, session, error=str(exc), status=400)
    # A dry run never writes: nothing it touched is kept.
    session.rollback()
    rule = session.get(AutomationRule, rule_id)
    return _list_page(request, session, dry=result, dry_rule=rule, matches=matches, days=days)


@router.post("/settings/automation/rules/try", response_class=HTMLResponse)
async def try_form(request: Request, session: DbSession) -> Response:
    """The editor's event and conditions, unsaved, against history: the editor again with the result."""
    page_for(request, "admin")
    form = await _form(request)
    raw_id = (form.get("rule_id") or "").strip()
    rule_id = int(raw_id) if raw_id.isdigit() else None
    try:
        days = _days(form)
        result, matches = dry_run_conditions(session, form.get("event", ""), conditions_from_form(form), days)
    except SettingsError as exc:
        session.rollback()
        return _editor(request, session, rule_id, form_echo(form), error=str(exc), status=400)
    session.rollback()
    return _editor(request, session, rule_id, form_echo(form), dry=result, matches=matches, days=days)
