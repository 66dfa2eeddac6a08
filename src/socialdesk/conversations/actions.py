"""Changing conversations: status life cycle, priority, labels, notes, participants, bulk.

Every change writes a ConversationEvent (who, when, what) and publishes a live
``conversation.updated``. It is published at the change, before the caller commits; the
page re-fetches on each update and the commit follows within the same request.

The status machine (``TRANSITIONS``) is the single source of truth; threading
(``conversations/threading.py``) applies the two automatic moves a customer message causes
(resolved → open, pending → open), which are both allowed transitions here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal
from socialdesk.conversations.models import PRIORITIES, STATUSES, Conversation, ConversationEvent, Note
from socialdesk.db.base import utcnow
from socialdesk.live import publish

# Who acts: a signed-in principal, or None for the system (automation, timers).
Actor = Principal | None

# status → the statuses it may move to. Nothing goes back to "new"; closed is final
# (a new customer message starts the thread's next conversation instead); a resolved
# conversation must be reopened before it can wait or sleep again.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"open", "pending", "snoozed", "resolved", "closed"}),
    "open": frozenset({"pending", "snoozed", "resolved", "closed"}),
    "pending": frozenset({"open", "snoozed", "resolved", "closed"}),
    "snoozed": frozenset({"open", "pending", "resolved", "closed"}),
    "resolved": frozenset({"open", "closed"}),
    "closed": frozenset(),
}
MAX_LABEL_LENGTH = 64
MAX_NOTE_LENGTH = 10_000
MAX_BULK = 1000
BULK_ACTIONS = ("assign", "add_labels", "remove_labels", "resolve", "set_status", "set_priority")
_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9][\w.+-]*)")


class ActionError(ValueError):
    """A change the caller asked for that cannot be made; the message says why."""


class TransitionError(ActionError):
    """A status change the life cycle forbids."""


def actor_agent_id(actor: Actor) -> int | None:
    return actor.agent_id if actor is not None else None


def actor_name(actor: Actor) -> str:
    return actor.name if actor is not None else "system"


def record(
    session: Session,
    conversation: Conversation,
    kind: str,
    *,
    actor: Actor,
    at: datetime | None = None,
    **data: Any,
) -> ConversationEvent:
    """One history entry, plus the live update the inbox listens for."""
    event = ConversationEvent(
        conversation=conversation,
        kind=kind,
        at=at or utcnow(),
        actor_agent_id=actor_agent_id(actor),
        data={"by": actor_name(actor), **data},
    )
    session.add(event)
    session.flush()
    publish("conversation.updated", conversation_id=conversation.id, change=kind)
    return event


# --- status -----------------------------------------------------------------------------


def allowed_transitions(status: str) -> frozenset[str]:
    return TRANSITIONS.get(status, frozenset())


def change_status(
    session: Session,
    conversation: Conversation,
    to: str,
    *,
    actor: Actor,
    snooze_until: datetime | None = None,
    now: datetime | None = None,
    reason: str = "",
) -> ConversationEvent:
    """Move ``conversation`` to status ``to``; TransitionError names the allowed moves."""
    now = now or utcnow()
    current = conversation.status
    if to not in STATUSES:
        raise TransitionError(f"unknown status {to!r}; expected one of {', '.join(STATUSES)}")
    if to == current:
        raise TransitionError(f"conversation {conversation.id} is already {to}")
    allowed = allowed_transitions(current)
    if to not in allowed:
        hint = ", ".join(sorted(allowed)) if allowed else "none: closed is final"
        raise TransitionError(
            f"cannot move conversation {conversation.id} from {current} to {to}; "
            f"allowed from {current}: {hint}"
        )
    if to == "snoozed":
        if snooze_until is None:
            raise TransitionError("snoozing needs snooze_until, the time to wake the conversation")
        if snooze_until.tzinfo is None:
            raise TransitionError("snooze_until needs a timezone (e.g. 2026-11-24T09:00:00Z)")
        if snooze_until <= now:
            raise TransitionError(f"snooze_until {snooze_until.isoformat()} is not in the future")
    elif snooze_until is not None:
        raise TransitionError("snooze_until only applies when the new status is snoozed")

    conversation.status = to
    conversation.snoozed_until = snooze_until if to == "snoozed" else None
    if to == "resolved":
        conversation.resolved_at = now
    elif current == "resolved":
        conversation.resolved_at = None
    data: dict[str, Any] = {"from": current, "to": to}
    if snooze_until is not None:
        data["snooze_until"] = snooze_until.isoformat()
    if reason:
        data["reason"] = reason
    # Reopening keeps the kind threading uses, so KPIs and automation see one word for it.
    kind = "reopened" if current == "resolved" and to == "open" else "status_changed"
    return record(session, conversation, kind, actor=actor, at=now, **data)


def wake_snoozed(session: Session, now: datetime | None = None) -> list[int]:
    """Open every snoozed conversation whose time has come; returns their ids (periodic job)."""
    now = now or utcnow()
    due = session.scalars(
        select(Conversation)
        .where(Conversation.status == "snoozed", Conversation.snoozed_until <= now)
        .order_by(Conversation.id)
        .with_for_update(skip_locked=True)
    ).all()
    for conversation in due:
        change_status(session, conversation, "open", actor=None, now=now, reason="snooze_expired")
    return [c.id for c in due]


def wake_on_customer_message_step(session: Session, message: Any) -> None:
    """Pipeline step: a customer writing to a snoozed conversation wakes it (threading leaves it)."""
    conversation = message.conversation
    if message.direction != "inbound" or conversation is None or conversation.status != "snoozed":
        return
    change_status(
        session,
        conversation,
        "open",
        actor=None,
        now=max(message.sent_at, utcnow()),
        reason="customer_replied",
    )


# --- priority and labels ---------------------------------------------------------------


def set_priority(session: Session, conversation: Conversation, priority: str, *, actor: Actor) -> bool:
    """Returns False (and records nothing) when the priority is already ``priority``."""
    if priority not in PRIORITIES:
        raise ActionError(f"unknown priority {priority!r}; expected one of {', '.join(PRIORITIES)}")
    if conversation.priority == priority:
        return False
    previous = conversation.priority
    conversation.priority = priority
    record(session, conversation, "priority_changed", actor=actor, **{"from": previous, "to": priority})
    return True


def clean_labels(labels: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for raw in labels:
        if not isinstance(raw, str):
            raise ActionError(f"a label must be text, got {raw!r}")
        label = raw.strip().lower()
        if not label:
            raise ActionError("a label cannot be empty")
        if len(label) > MAX_LABEL_LENGTH:
            raise ActionError(f"label {label[:20]!r}... is longer than {MAX_LABEL_LENGTH} characters")
        if label not in cleaned:
            cleaned.append(label)
    if not cleaned:
        raise ActionError("give at least one label")
    return cleaned


def add_labels(
    session: Session, conversation: Conversation, labels: Iterable[str], *, actor: Actor
) -> list[str]:
    """Adds the labels the conversation lacks; returns those actually added."""
    wanted = clean_labels(labels)
    current = list(conversation.labels or [])
    added = [label for label in wanted if label not in current]
    if added:
        conversation.labels = current + added  # a new list, so the JSON column sees the change
        record(session, conversation, "labels_added", actor=actor, labels=added)
    return added


def remove_labels(
    session: Session, conversation: Conversation, labels: Iterable[str], *, actor: Actor
) -> list[str]:
    """Removes the given labels it has; returns those actually removed."""
    wanted = clean_labels(labels)
    current = list(conversation.labels or [])
    removed = [label for label in wanted if label in current]
    if removed:
        conversation.labels = [label for label in current if label not in removed]
        record(session, conversation, "labels_removed", actor=actor, labels=removed)
    return removed


# --- notes, mentions, participants ---------------------------------------------------------


def resolve_mentions(session: Session, body: str) -> tuple[list[int], list[str]]:
    """``@name`` → agent ids. A name matches an agent's email, its local part, or its name
    without spaces (``@AnnaMüller``), case-insensitively. Returns (ids, unknown names)."""
    from socialdesk.routing.models import Agent

    names = list(dict.fromkeys(m.rstrip(".") for m in _MENTION.findall(body)))
    if not names:
        return [], []
    index: dict[str, int] = {}
    for agent in session.scalars(select(Agent).where(Agent.active.is_(True))):
        email = agent.email.lower()
        for key in (email, email.split("@")[0], re.sub(r"\s+", "", agent.name).lower()):
            index.setdefault(key, agent.id)
    ids: list[int] = []
    unknown: list[str] = []
    for name in names:
        agent_id = index.get(name.lower())
        if agent_id is None:
            unknown.append(name)
        elif agent_id not in ids:
            ids.append(agent_id)
    return ids, unknown


def add_note(session: Session, conversation: Conversation, body: str, *, actor: Actor) -> Note:
    """An internal note; @mentions of colleagues are resolved to agent ids and notified live."""
    body = (body or "").strip()
    if not body:
        raise ActionError("a note cannot be empty")
    if len(body) > MAX_NOTE_LENGTH:
        raise ActionError(f"a note is at most {MAX_NOTE_LENGTH} characters; this one has {len(body)}")
    mentions, unknown = resolve_mentions(session, body)
    note = Note(
        conversation_id=conversation.id,
        author_agent_id=actor_agent_id(actor),
        body=body,
        mentions=mentions,
    )
    session.add(note)
    session.flush()
    record(
        session,
        conversation,
        "note_added",
        actor=actor,
        note_id=note.id,
        mentions=mentions,
        unresolved_mentions=unknown,
    )
    for agent_id in mentions:
        publish("agent.mentioned", agent_id=agent_id, conversation_id=conversation.id, note_id=note.id)
    return note


def add_participant(session: Session, conversation: Conversation, agent_id: int, *, actor: Actor) -> bool:
    from socialdesk.routing.models import Agent

    if session.get(Agent, agent_id) is None:
        raise ActionError(f"agent {agent_id} does not exist")
    if agent_id in participants(session, conversation):
        return False
    record(session, conversation, "participant_added", actor=actor, agent_id=agent_id)
    return True


def remove_participant(session: Session, conversation: Conversation, agent_id: int, *, actor: Actor) -> bool:
    if agent_id not in _explicit_participants(session, conversation):
        return False
    record(session, conversation, "participant_removed", actor=actor, agent_id=agent_id)
    return True


def _explicit_participants(session: Session, conversation: Conversation) -> set[int]:
    members: set[int] = set()
    rows = session.scalars(
        select(ConversationEvent)
        .where(
            ConversationEvent.conversation_id == conversation.id,
            ConversationEvent.kind.in_(("participant_added", "participant_removed")),
        )
        .order_by(ConversationEvent.id)
    )
    for event in rows:
        agent_id = int(event.data.get("agent_id", 0))
        if event.kind == "participant_added":
            members.add(agent_id)
        else:
            members.discard(agent_id)
    return members


def participants(session: Session, conversation: Conversation) -> list[int]:
    """Agents taking part: the assignee, anyone added, note authors, mentioned colleagues and
    agents who replied. Derived from history, so it cannot drift from what happened."""
    from socialdesk.conversations.models import Message

    members = _explicit_participants(session, conversation)
    if conversation.assignee_id is not None:
        members.add(conversation.assignee_id)
    for author, mentions in session.execute(
        select(Note.author_agent_id, Note.mentions).where(Note.conversation_id == conversation.id)
    ):
        if author is not None:
            members.add(author)
        members.update(int(m) for m in mentions or [])
    members.update(
        session.scalars(
            select(Message.sent_by_agent_id)
            .where(Message.conversation_id == conversation.id, Message.sent_by_agent_id.is_not(None))
            .distinct()
        )
    )
    return sorted(members)


# --- bulk -------------------------------------------------------------------------------------


@dataclass(slots=True)
class BulkResult:
    done: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "skipped": {str(k): v for k, v in self.skipped.items()}}


def bulk(
    session: Session,
    action: str,
    *,
    actor: Actor,
    ids: list[int] | None = None,
    where: Any = None,
    params: dict[str, Any] | None = None,
) -> BulkResult:
    """Apply one action to many conversations, chosen by ``ids`` or a ConversationFilter
    (``where``). Input errors fail the whole call before anything changes; a conversation the
    action does not fit (already resolved, closed...) is skipped with its reason."""
    from socialdesk.conversations.service import filtered

    params = dict(params or {})
    if action not in BULK_ACTIONS:
        raise ActionError(f"unknown bulk action {action!r}; expected one of {', '.join(BULK_ACTIONS)}")
    if (ids is None) == (where is None):
        raise ActionError("choose conversations by ids or by a filter, not both and not neither")
    _check_bulk_params(action, params)
    if ids is not None:
        if not ids:
            raise ActionError("ids is empty")
        if len(ids) > MAX_BULK:
            raise ActionError(f"at most {MAX_BULK} conversations per bulk action; got {len(ids)}")
        rows = session.scalars(select(Conversation).where(Conversation.id.in_(ids))).all()
        missing = sorted(set(ids) - {c.id for c in rows})
        if missing:
            raise ActionError(f"no conversation with id {', '.join(map(str, missing[:20]))}")
    else:
        query = filtered(select(Conversation), where, session).order_by(Conversation.id).limit(MAX_BULK + 1)
        rows = session.scalars(query).all()
        if len(rows) > MAX_BULK:
            raise ActionError(f"the filter matches more than {MAX_BULK} conversations; narrow it")
    result = BulkResult()
    for conversation in sorted(rows, key=lambda c: c.id):
        try:
            with session.begin_nested():
                changed = _apply_one(session, conversation, action, params, actor)
        except ActionError as exc:
            result.skipped[conversation.id] = str(exc)
            continue
        if changed:
            result.done.append(conversation.id)
        else:
            result.skipped[conversation.id] = "nothing to change"
    return result


def _check_bulk_params(action: str, params: dict[str, Any]) -> None:
    if action in ("add_labels", "remove_labels"):
        params["labels"] = clean_labels(params.get("labels") or [])
    elif action == "set_priority":
        if params.get("priority") not in PRIORITIES:
            raise ActionError(f"set_priority needs priority, one of {', '.join(PRIORITIES)}")
    elif action == "set_status":
        if params.get("status") not in STATUSES:
            raise ActionError(f"set_status needs status, one of {', '.join(STATUSES)}")
        if params["status"] == "snoozed":
            raise ActionError("snooze conversations one at a time, with their own wake-up time")
    elif action == "assign" and params.get("agent_id") is None and params.get("team_id") is None:
        raise ActionError("assign needs agent_id or team_id")


def _apply_one(
    session: Session, conversation: Conversation, action: str, params: dict[str, Any], actor: Actor
) -> bool:
    if action == "add_labels":
        return bool(add_labels(session, conversation, params["labels"], actor=actor))
    if action == "remove_labels":
        return bool(remove_labels(session, conversation, params["labels"], actor=actor))
    if action == "set_priority":
        return set_priority(session, conversation, params["priority"], actor=actor)
    if action in ("resolve", "set_status"):
        target = "resolved" if action == "resolve" else params["status"]
        change_status(session, conversation, target, actor=actor)
        return True
    # assign: part A's routing owns assignment rules (capacity, team membership, events).
    from socialdesk.routing.service import assign

    before = (conversation.assignee_id, conversation.team_id)
    try:
        assign(
            session,
            conversation,
            agent_id=params.get("agent_id"),
            team_id=params.get("team_id"),
            actor=actor,
        )
    except ValueError as exc:  # routing's own errors say what was wrong
        raise ActionError(str(exc)) from exc
    return (conversation.assignee_id, conversation.team_id) != before
