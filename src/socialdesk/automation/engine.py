"""Running rules: dispatch an event to the matching rules, without loops; dry-run over history.

No loops: while a rule's actions run, that rule (and every rule earlier in the same chain)
is excluded from the events its actions cause, and a chain stops after ``MAX_CHAIN`` rules.
Events a rule's actions write are tagged with the chain, so the periodic sweep that turns
history into ``conversation_updated`` honours the same exclusion later.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal, audit
from socialdesk.automation.actions import ActionSpecError, Skipped, run_action, validate_actions
from socialdesk.automation.conditions import ConditionError, Facts, evaluate, validate
from socialdesk.automation.models import EVENTS, AutomationRule, AutomationRun
from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.db.base import utcnow

log = logging.getLogger(__name__)

MAX_CHAIN = 3
# Conversation event kinds that count as "conversation updated".
UPDATE_KINDS = ("status_changed", "priority_changed", "labels_added", "labels_removed", "macro_applied")
_chain: ContextVar[tuple[int, ...]] = ContextVar("automation_chain", default=())


class AutomationError(ValueError):
    pass


def rule_actor(rule_id: int) -> Principal:
    return Principal(name=f"automation:rule:{rule_id}", role="admin", agent_id=None)


# --- rules ----------------------------------------------------------------------------


def _check(session: Session, event: str, conditions: Any, actions: Any) -> None:
    if event not in EVENTS:
        raise AutomationError(f"unknown event {event!r}; expected one of {', '.join(EVENTS)}")
    try:
        validate(conditions)
        validate_actions(session, actions)
    except (ConditionError, ActionSpecError) as exc:
        raise AutomationError(str(exc)) from exc


def create_rule(
    session: Session,
    *,
    name: str,
    event: str,
    conditions: dict[str, Any] | None,
    actions: list[dict[str, Any]],
    description: str = "",
    active: bool = True,
    position: int = 100,
    actor: Principal | None = None,
) -> AutomationRule:
    if not name.strip():
        raise AutomationError("a rule needs a name")
    conditions = conditions or {}
    _check(session, event, conditions, actions)
    rule = AutomationRule(
        name=name.strip(),
        description=description,
        event=event,
        conditions=conditions,
        actions=actions,
        active=active,
        position=position,
    )
    session.add(rule)
    session.flush()
    audit(
        session, actor.name if actor else "system", "automation.rule.create", f"rule:{rule.id}", event=event
    )
    return rule


def update_rule(
    session: Session, rule: AutomationRule, *, actor: Principal, **changes: Any
) -> AutomationRule:
    allowed = {"name", "description", "event", "conditions", "actions", "active", "position"}
    unknown = set(changes) - allowed
    if unknown:
        raise AutomationError(f"cannot change {sorted(unknown)}")
    if "name" in changes and not str(changes["name"]).strip():
        raise AutomationError("a rule needs a name")
    _check(
        session,
        changes.get("event", rule.event),
        changes.get("conditions", rule.conditions),
        changes.get("actions", rule.actions),
    )
    for key, value in changes.items():
        setattr(rule, key, value)
    audit(session, actor.name, "automation.rule.update", f"rule:{rule.id}", fields=sorted(changes))
    return rule


def get_rule(session: Session, rule_id: int) -> AutomationRule | None:
    return session.get(AutomationRule, rule_id)


# --- dispatch -------------------------------------------------------------------------


def dispatch(
    session: Session,
    event: str,
    conversation: Conversation,
    *,
    message: Message | None = None,
    extra: dict[str, Any] | None = None,
    exclude: tuple[int, ...] = (),
    now: datetime | None = None,
) -> list[AutomationRun]:
    """Run every active rule of ``event`` whose conditions hold, in position order."""
    chain = _chain.get()
    if len(chain) >= MAX_CHAIN:
        return []
    excluded = set(chain) | set(exclude)
    rules = session.scalars(
        select(AutomationRule)
        .where(AutomationRule.event == event, AutomationRule.active.is_(True))
        .order_by(AutomationRule.position, AutomationRule.id)
    ).all()
    runs: list[AutomationRun] = []
    for rule in rules:
        if rule.id in excluded:
            continue
        facts = Facts(session, conversation, message, now or utcnow(), dict(extra or {}))
        if not evaluate(rule.conditions or {}, facts):
            continue
        runs.append(_run_rule(session, rule, conversation, event, chain + (rule.id,)))
    return runs


def _run_rule(
    session: Session, rule: AutomationRule, conversation: Conversation, event: str, chain: tuple[int, ...]
) -> AutomationRun:
    session.flush()
    before = session.scalar(select(func.max(ConversationEvent.id))) or 0
    token = _chain.set(chain)
    results: list[dict[str, Any]] = []
    try:
        for action in rule.actions:
            try:
                with session.begin_nested():
                    detail = run_action(
                        session, conversation, action, actor=rule_actor(rule.id), event=event, rule_id=rule.id
                    )
                results.append({"type": action["type"], "ok": True, "detail": detail})
            except Skipped as exc:
                results.append({"type": action["type"], "ok": True, "skipped": str(exc)})
            except Exception as exc:  # one failing action must not stop the rest or the pipeline
                log.warning("rule %s action %s failed: %s", rule.id, action["type"], exc)
                session.refresh(conversation)
                results.append({"type": action["type"], "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        _chain.reset(token)
    session.flush()
    for caused in session.scalars(
        select(ConversationEvent).where(
            ConversationEvent.conversation_id == conversation.id, ConversationEvent.id > before
        )
    ):
        caused.data = {**(caused.data or {}), "automation": {"rule_id": rule.id, "chain": list(chain)}}
    run = AutomationRun(rule_id=rule.id, conversation_id=conversation.id, event=event, results=results)
    session.add(run)
    session.flush()
    return run


def dispatch_updates(session: Session, event_ids: list[int]) -> None:
    """Turn newly written history into ``conversation_updated`` / ``conversation_reopened``.

    Called by the SLA ticker with the event ids it has not seen yet. Reopens written by
    threading (a customer message) are dispatched by the pipeline step instead.
    """
    if not event_ids:
        return
    kinds = (*UPDATE_KINDS, "reopened")
    by_conversation: dict[tuple[int, str], list[ConversationEvent]] = {}
    for i in range(0, len(event_ids), 500):
        for e in session.scalars(
            select(ConversationEvent).where(
                ConversationEvent.id.in_(event_ids[i : i + 500]), ConversationEvent.kind.in_(kinds)
            )
        ):
            if e.kind == "reopened" and "by" not in (e.data or {}):
                continue  # a customer message reopened it; routing_step handled that
            name = "conversation_reopened" if e.kind == "reopened" else "conversation_updated"
            by_conversation.setdefault((e.conversation_id, name), []).append(e)
    for (conversation_id, name), events in sorted(by_conversation.items()):
        chains = [tuple((e.data or {}).get("automation", {}).get("chain", ())) for e in events]
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            continue
        if all(chains):
            # Only automation caused these: keep the chain so loops stay impossible.
            longest = max(chains, key=len)
            token = _chain.set(longest)
            try:
                dispatch(session, name, conversation, exclude=tuple({r for c in chains for r in c}))
            finally:
                _chain.reset(token)
        else:
            dispatch(session, name, conversation)


# --- dry run --------------------------------------------------------------------------


@dataclass(slots=True)
class DryRun:
    examined: int
    matched: int
    truncated: bool
    samples: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "examined": self.examined,
            "matched": self.matched,
            "truncated": self.truncated,
            "samples": self.samples,
        }


def dry_run(
    session: Session,
    *,
    event: str,
    conditions: dict[str, Any] | None,
    since: datetime | None = None,
    until: datetime | None = None,
    scan_limit: int = 10_000,
    sample_limit: int = 20,
) -> DryRun:
    """Which stored events the rule would have fired on; changes nothing.

    Message-level fields (text, language, sentiment, issue type, direction) come from each
    historical message; conversation-level fields are the conversation as it is now.
    """
    conditions = conditions or {}
    if event not in EVENTS:
        raise AutomationError(f"unknown event {event!r}; expected one of {', '.join(EVENTS)}")
    try:
        validate(conditions)
    except ConditionError as exc:
        raise AutomationError(str(exc)) from exc
    until = until or utcnow()
    since = since or until - timedelta(days=7)
    if since >= until:
        raise AutomationError("since must be before until")
    items: list[tuple[Conversation, Message | None, datetime, dict[str, Any]]] = []
    if event == "message_created":
        rows = session.scalars(
            select(Message)
            .where(
                Message.direction == "inbound",
                Message.conversation_id.is_not(None),
                Message.sent_at >= since,
                Message.sent_at < until,
            )
            .order_by(Message.sent_at.desc())
            .limit(scan_limit + 1)
        ).all()
        items = [(m.conversation, m, m.sent_at, {}) for m in rows if m.conversation is not None]
    elif event == "conversation_created":
        rows_c = session.scalars(
            select(Conversation)
            .where(Conversation.first_message_at >= since, Conversation.first_message_at < until)
            .order_by(Conversation.first_message_at.desc())
            .limit(scan_limit + 1)
        ).all()
        items = [(c, None, c.first_message_at, {}) for c in rows_c]
    else:
        kinds = {
            "conversation_updated": UPDATE_KINDS,
            "conversation_reopened": ("reopened",),
            "sla_warning": ("sla_warning",),
            "sla_breach": ("sla_breach",),
            "assignment_changed": ("assigned",),
        }[event]
        rows_e = session.scalars(
            select(ConversationEvent)
            .where(
                ConversationEvent.kind.in_(kinds), ConversationEvent.at >= since, ConversationEvent.at < until
            )
            .order_by(ConversationEvent.at.desc())
            .limit(scan_limit + 1)
        ).all()
        items = [
            (e.conversation, None, e.at, {"sla_target": (e.data or {}).get("target", "")}) for e in rows_e
        ]
    truncated = len(items) > scan_limit
    items = items[:scan_limit]
    matched = 0
    samples: list[dict[str, Any]] = []
    for conversation, message, at, extra in items:
        if evaluate(conditions, Facts(session, conversation, message, at, extra)):
            matched += 1
            if len(samples) < sample_limit:
                samples.append(
                    {
                        "conversation_id": conversation.id,
                        "message_id": message.id if message else None,
                        "at": at,
                    }
                )
    return DryRun(len(items), matched, truncated, samples)
