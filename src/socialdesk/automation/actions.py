"""What a rule can do. Each action is {"type": ..., ...params}; validated when the rule is saved.

assign_agent   {"agent_id": int}
assign_team    {"team_id": int}            (routed to an eligible agent of that team)
set_priority   {"priority": "urgent"|"high"|"normal"|"low"}
add_label      {"labels": [str, ...]}
remove_label   {"labels": [str, ...]}
send_template  {"template_id": int}        (approved templates only; skipped in a crisis)
snooze         {"minutes": int}
resolve        {}
mute           {}                           (label "muted" and resolve: no more alerts)
webhook        {"url": "http(s)://..."}     (POSTs the event as JSON, 3 s timeout)
escalate       {}                           (senior team, priority at least high)
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal
from socialdesk.conversations.models import PRIORITIES, Conversation
from socialdesk.db.base import utcnow

log = logging.getLogger(__name__)

ACTION_TYPES = (
    "assign_agent",
    "assign_team",
    "set_priority",
    "add_label",
    "remove_label",
    "send_template",
    "snooze",
    "resolve",
    "mute",
    "webhook",
    "escalate",
)
MAX_ACTIONS = 20
WEBHOOK_TIMEOUT = 3.0


class ActionSpecError(ValueError):
    pass


class Skipped(Exception):
    """The action does not apply here (not an error): e.g. already resolved, crisis pause."""


def validate_actions(session: Session, actions: Any) -> list[dict[str, Any]]:
    from socialdesk.routing.models import Agent, Team

    if not isinstance(actions, list) or not actions:
        raise ActionSpecError("actions: expected a non-empty list")
    if len(actions) > MAX_ACTIONS:
        raise ActionSpecError(f"actions: at most {MAX_ACTIONS} per rule")
    for i, action in enumerate(actions):
        where = f"actions[{i}]"
        if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
            raise ActionSpecError(f"{where}: type must be one of {', '.join(ACTION_TYPES)}")
        kind = action["type"]
        if kind == "assign_agent":
            agent_id = action.get("agent_id")
            if not isinstance(agent_id, int) or session.get(Agent, agent_id) is None:
                raise ActionSpecError(f"{where}: agent_id must name an existing agent")
        elif kind == "assign_team":
            team_id = action.get("team_id")
            if not isinstance(team_id, int) or session.get(Team, team_id) is None:
                raise ActionSpecError(f"{where}: team_id must name an existing team")
        elif kind == "set_priority":
            if action.get("priority") not in PRIORITIES:
                raise ActionSpecError(f"{where}: priority must be one of {', '.join(PRIORITIES)}")
        elif kind in ("add_label", "remove_label"):
            labels = action.get("labels")
            if (
                not isinstance(labels, list)
                or not labels
                or not all(isinstance(x, str) and x.strip() for x in labels)
            ):
                raise ActionSpecError(f"{where}: labels must be a non-empty list of strings")
        elif kind == "send_template":
            template_id = action.get("template_id")
            if not isinstance(template_id, int):
                raise ActionSpecError(f"{where}: template_id must be an integer")
            try:
                from socialdesk.assist.templates import TemplateError, usable_template
            except ImportError as exc:
                raise ActionSpecError(f"{where}: reply templates are not available") from exc
            try:
                usable_template(session, template_id, automatic=True)
            except TemplateError as exc:
                raise ActionSpecError(f"{where}: {exc}") from exc
        elif kind == "snooze":
            minutes = action.get("minutes")
            if not isinstance(minutes, int) or not 1 <= minutes <= 60 * 24 * 90:
                raise ActionSpecError(f"{where}: minutes must be an integer from 1 to 129600")
        elif kind == "webhook":
            url = action.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ActionSpecError(f"{where}: url must be an http(s) URL")
    return actions


def run_action(
    session: Session,
    conversation: Conversation,
    action: dict[str, Any],
    *,
    actor: Principal,
    event: str,
    rule_id: int,
) -> str:
    """Do one action; returns a short description, raises Skipped when it does not apply."""
    from socialdesk.routing import service as routing

    kind = action["type"]
    if kind == "assign_agent":
        routing.assign(
            session, conversation, agent_id=action["agent_id"], team_id=None, actor=actor, reason="automation"
        )
        return f"assigned to agent {action['agent_id']}"
    if kind == "assign_team":
        if conversation.team_id == action["team_id"] and conversation.assignee_id is not None:
            raise Skipped("already with an agent of that team")
        agent_id = routing.assign_within_team(
            session, conversation, action["team_id"], actor=actor, reason="automation"
        )
        return f"team {action['team_id']}, agent {agent_id}"
    if kind == "escalate":
        team = routing.senior_team(session, conversation)
        if team is None:
            raise Skipped("no senior team is configured")
        if conversation.team_id == team.id and conversation.assignee_id is not None:
            raise Skipped("already with the senior team")
        if PRIORITIES.index(conversation.priority) > PRIORITIES.index("high"):
            _conversation_actions().set_priority(session, conversation, "high", actor=actor)
        agent_id = routing.assign_within_team(
            session, conversation, team.id, actor=actor, reason="escalation"
        )
        return f"escalated to team {team.slug}, agent {agent_id}"
    actions = _conversation_actions()
    if kind == "set_priority":
        changed = actions.set_priority(session, conversation, action["priority"], actor=actor)
        if not changed:
            raise Skipped(f"priority is already {action['priority']}")
        return f"priority {action['priority']}"
    if kind == "add_label":
        added = actions.add_labels(session, conversation, action["labels"], actor=actor)
        if not added:
            raise Skipped("labels already present")
        return f"labels +{','.join(added)}"
    if kind == "remove_label":
        removed = actions.remove_labels(session, conversation, action["labels"], actor=actor)
        if not removed:
            raise Skipped("labels not present")
        return f"labels -{','.join(removed)}"
    if kind in ("resolve", "mute"):
        if kind == "mute":
            actions.add_labels(session, conversation, ["muted"], actor=actor)
        if conversation.status in ("resolved", "closed"):
            raise Skipped(f"already {conversation.status}")
        actions.change_status(session, conversation, "resolved", actor=actor, reason=f"automation:{rule_id}")
        return "muted and resolved" if kind == "mute" else "resolved"
    if kind == "snooze":
        until = utcnow() + timedelta(minutes=action["minutes"])
        if conversation.status in ("resolved", "closed", "snoozed"):
            raise Skipped(f"cannot snooze a {conversation.status} conversation")
        actions.change_status(session, conversation, "snoozed", actor=actor, snooze_until=until)
        return f"snoozed until {until.isoformat()}"
    if kind == "send_template":
        return _send_template(session, conversation, action["template_id"], actor=actor)
    if kind == "webhook":
        return _post_webhook(action["url"], conversation, event=event, rule_id=rule_id)
    raise Skipped(f"unknown action {kind}")  # pragma: no cover - validated on save


def _conversation_actions() -> Any:
    from socialdesk.conversations import actions

    return actions


def automation_paused(session: Session, conversation: Conversation) -> bool:
    """Crisis mode pauses automatic replies; without the listening domain nothing is paused."""
    try:
        from socialdesk.listening.crisis import automation_paused as paused
    except ImportError:
        return False
    return bool(paused(session, conversation))


def _send_template(
    session: Session, conversation: Conversation, template_id: int, *, actor: Principal
) -> str:
    if automation_paused(session, conversation):
        raise Skipped("automatic replies are paused by crisis mode")
    if conversation.status == "closed":
        raise Skipped("conversation is closed")
    from socialdesk.outbox.service import queue_reply

    # The outbox renders the template for this customer and refuses unapproved ones (automatic).
    message = queue_reply(session, conversation, "", actor=actor, template_id=template_id, automatic=True)
    return f"queued reply {message.id} from template {template_id}"


def _post_webhook(url: str, conversation: Conversation, *, event: str, rule_id: int) -> str:
    body = {
        "event": event,
        "rule_id": rule_id,
        "conversation": {
            "id": conversation.id,
            "platform": conversation.platform,
            "brand_id": conversation.brand_id,
            "status": conversation.status,
            "priority": conversation.priority,
            "assignee_id": conversation.assignee_id,
            "team_id": conversation.team_id,
            "labels": list(conversation.labels or []),
            "language": conversation.language,
            "sentiment": conversation.sentiment,
            "urgency": conversation.urgency,
            "subject": conversation.subject,
        },
        # Slack-compatible: a "text" field renders in an incoming-webhook channel.
        "text": f"socialdesk: {event} on conversation {conversation.id} ({conversation.platform})",
    }
    response = httpx.post(url, json=body, timeout=WEBHOOK_TIMEOUT)
    if response.status_code >= 400:
        raise RuntimeError(f"webhook answered {response.status_code}")
    return f"webhook {response.status_code}"
