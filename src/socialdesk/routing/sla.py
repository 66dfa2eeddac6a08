"""SLA policies and clocks: first response, next response and resolution (docs/sla.md).

A conversation's clocks are computed from its event history (``created``, ``message_in``,
``message_out``, ``status_changed``, ``reopened``), so they are right whoever changed the
conversation and however late we look. The due times are copied onto the conversation
(``*_due_at``) for the inbox to sort by; ``check_sla`` fires ``sla_warning`` and
``sla_breach`` events once per clock cycle.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from socialdesk.conversations.models import Conversation, ConversationEvent
from socialdesk.db.base import utcnow
from socialdesk.routing.calendar import Calendar, add_business_seconds, business_seconds
from socialdesk.routing.models import BusinessCalendar, SlaAlert, SlaPolicy, Team
from socialdesk.routing.settings import get_config

log = logging.getLogger(__name__)

TARGETS = ("first_response", "next_response", "resolution")
PAUSED_STATUSES = {"pending", "snoozed"}
FINISHED_STATUSES = {"resolved", "closed"}
ACTIVE_STATUSES = ("new", "open", "pending", "snoozed")
# Used when a policy counts business hours and neither the team nor the policy has a calendar.
DEFAULT_SCHEDULE = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


# --- policies -------------------------------------------------------------------------


def select_policy(session: Session, conversation: Conversation) -> SlaPolicy | None:
    """The most specific active policy: brand beats priority beats platform; ties → lowest id."""
    rows = session.scalars(
        select(SlaPolicy)
        .where(
            SlaPolicy.active.is_(True),
            or_(SlaPolicy.brand_id.is_(None), SlaPolicy.brand_id == conversation.brand_id),
            SlaPolicy.platform.in_(("", conversation.platform)),
            SlaPolicy.priority.in_(("", conversation.priority)),
        )
        .order_by(SlaPolicy.id)
    ).all()
    if not rows:
        return None
    return max(
        rows, key=lambda p: (4 * (p.brand_id is not None) + 2 * bool(p.priority) + bool(p.platform), -p.id)
    )


def calendar_for(session: Session, conversation: Conversation, policy: SlaPolicy) -> Calendar | None:
    """None (24/7) unless the policy counts business hours; then the team's calendar, the
    policy's calendar, or Mon–Fri 09:00–17:00 in the team's timezone, in that order."""
    if not policy.business_hours:
        return None
    row = None
    team = session.get(Team, conversation.team_id) if conversation.team_id else None
    if team is not None:
        row = session.scalar(select(BusinessCalendar).where(BusinessCalendar.team_id == team.id))
    if row is None and policy.calendar_id:
        row = session.get(BusinessCalendar, policy.calendar_id)
    if row is None:
        return Calendar.build(timezone=team.timezone if team else "UTC", schedule=DEFAULT_SCHEDULE)
    return calendar_from_row(row)


def calendar_from_row(row: BusinessCalendar) -> Calendar:
    return Calendar.build(
        timezone=row.timezone,
        schedule=row.schedule,
        holiday_country=row.holiday_country,
        holiday_subdivision=row.holiday_subdivision,
        closed_days=row.closed_days,
    )


# --- clocks ---------------------------------------------------------------------------


@dataclass(slots=True)
class Clock:
    target: str
    minutes: int | None
    calendar: Calendar | None = field(repr=False, default=None)
    started_at: datetime | None = None
    running_since: datetime | None = None
    consumed: float = 0.0  # open seconds used before running_since
    stopped_at: datetime | None = None
    due_at: datetime | None = None  # while running, or the due time it had when it stopped

    @property
    def state(self) -> str:
        if self.started_at is None:
            return "not_started"
        if self.stopped_at is not None:
            return "stopped"
        return "running" if self.running_since is not None else "paused"

    def start(self, at: datetime, paused: bool) -> None:
        self.started_at, self.consumed, self.stopped_at = at, 0.0, None
        self.running_since = None if paused else at
        self._due()

    def pause(self, at: datetime) -> None:
        if self.running_since is not None and self.stopped_at is None:
            self.consumed += business_seconds(self.calendar, self.running_since, at)
            self.running_since = None
            self.due_at = None

    def resume(self, at: datetime) -> None:
        if self.started_at is not None and self.stopped_at is None and self.running_since is None:
            self.running_since = at
            self._due()

    def stop(self, at: datetime) -> None:
        if self.started_at is not None and self.stopped_at is None:
            self.pause(at) if self.running_since is not None else None
            self.stopped_at = at
            # The due time as it stood when the clock stopped, for "met or missed".
            self.due_at = self._due_from(at)

    def _due(self) -> None:
        self.due_at = self._due_from(self.running_since) if self.running_since is not None else None

    def _due_from(self, at: datetime | None) -> datetime | None:
        if self.minutes is None or at is None:
            return None
        return add_business_seconds(self.calendar, at, self.minutes * 60 - self.consumed)

    def remaining_seconds(self, now: datetime) -> float | None:
        if self.minutes is None or self.started_at is None or self.stopped_at is not None:
            return None
        used = self.consumed
        if self.running_since is not None:
            used += business_seconds(self.calendar, self.running_since, now)
        return self.minutes * 60 - used

    def breached(self, now: datetime) -> bool:
        if self.minutes is None or self.started_at is None:
            return False
        if self.stopped_at is not None:
            return self.due_at is not None and self.stopped_at > self.due_at
        remaining = self.remaining_seconds(now)
        return remaining is not None and remaining < 0

    def to_dict(self, now: datetime) -> dict[str, Any]:
        remaining = self.remaining_seconds(now)
        return {
            "target": self.target,
            "target_minutes": self.minutes,
            "state": self.state,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "due_at": self.due_at,
            "remaining_seconds": None if remaining is None else round(remaining),
            "breached": self.breached(now),
        }


@dataclass(slots=True)
class SlaState:
    policy: SlaPolicy | None
    clocks: dict[str, Clock]
    calendar: Calendar | None = None


def compute_clocks(
    events: list[ConversationEvent], policy: SlaPolicy | None, calendar: Calendar | None
) -> dict[str, Clock]:
    """Replay the conversation's events (by time, then id) through the three clocks."""

    def clock(target: str) -> Clock:
        return Clock(target, getattr(policy, f"{target}_minutes") if policy else None, calendar)

    first, nxt, resolution = clock("first_response"), clock("next_response"), clock("resolution")
    status = "new"
    replied = False
    for event in sorted(events, key=lambda e: (e.at, e.id or 0)):
        at, kind = event.at, event.kind
        paused = status in PAUSED_STATUSES
        if kind == "created":
            resolution.start(at, paused)
        elif kind == "message_in":
            if resolution.started_at is None:
                resolution.start(at, paused)
            if not replied and first.started_at is None:
                first.start(at, paused)
            elif replied and nxt.state not in ("running", "paused"):
                nxt.start(at, paused)
        elif kind == "message_out":
            if first.started_at is not None and first.stopped_at is None:
                first.stop(at)
            if nxt.state in ("running", "paused"):
                nxt.stop(at)
            replied = True
        elif kind == "reopened":
            status = "open"
            resolution.start(at, False)
        else:
            to = _status_target(event)
            if to is None:
                continue
            status = to
            for c in (first, nxt, resolution):
                if to in FINISHED_STATUSES:
                    c.stop(at)
                elif to in PAUSED_STATUSES:
                    c.pause(at)
                else:
                    c.resume(at)
    return {c.target: c for c in (first, nxt, resolution)}


def _status_target(event: ConversationEvent) -> str | None:
    """The status an event moves the conversation to, if it is a status change."""
    if event.kind == "status_changed":
        to = (event.data or {}).get("to")
        return to if isinstance(to, str) else None
    if event.kind in {"resolved", "closed", "snoozed", "pending"}:
        return event.kind
    if event.kind in {"unsnoozed", "woke"}:
        return "open"
    return None


def conversation_events(session: Session, conversation: Conversation) -> list[ConversationEvent]:
    return list(
        session.scalars(select(ConversationEvent).where(ConversationEvent.conversation_id == conversation.id))
    )


def sla_state(session: Session, conversation: Conversation) -> SlaState:
    session.flush()
    policy = select_policy(session, conversation)
    calendar = calendar_for(session, conversation, policy) if policy else None
    clocks = compute_clocks(conversation_events(session, conversation), policy, calendar)
    return SlaState(policy, clocks, calendar)


def apply_sla(session: Session, conversation: Conversation) -> SlaState:
    """Choose the policy and write the running clocks' due times onto the conversation."""
    state = sla_state(session, conversation)
    conversation.sla_policy_id = state.policy.id if state.policy else None
    for target, c in state.clocks.items():
        due = c.due_at if c.state == "running" else None
        setattr(conversation, f"{target}_due_at", due)
    return state


def describe(session: Session, conversation: Conversation, now: datetime | None = None) -> dict[str, Any]:
    """The API view: policy, each clock, and the warnings/breaches fired so far."""
    now = now or utcnow()
    state = sla_state(session, conversation)
    alerts = session.scalars(
        select(SlaAlert).where(SlaAlert.conversation_id == conversation.id).order_by(SlaAlert.id)
    ).all()
    return {
        "conversation_id": conversation.id,
        "policy": None
        if state.policy is None
        else {
            "id": state.policy.id,
            "name": state.policy.name,
            "business_hours": state.policy.business_hours,
        },
        "clocks": [c.to_dict(now) for c in state.clocks.values()],
        "alerts": [
            {"kind": a.kind, "target": a.target, "due_at": a.due_at, "fired_at": a.fired_at} for a in alerts
        ],
    }


# --- the ticker -----------------------------------------------------------------------


@dataclass(slots=True)
class Fired:
    conversation_id: int
    kind: str
    target: str
    due_at: datetime


def check_sla(session: Session, now: datetime | None = None, *, batch: int = 2000) -> list[Fired]:
    """One tick: refresh clocks of conversations that changed, then fire due warnings/breaches.

    Safe to run from several processes at once: the config row is locked (PostgreSQL) and
    each alert is unique per clock cycle.
    """
    now = now or utcnow()
    config = get_config(session, for_update=True)
    lead = timedelta(minutes=config.sla_warning_minutes)

    # 1. Conversations with new events since the last tick: their clocks may have moved.
    rows = session.execute(
        select(ConversationEvent.id, ConversationEvent.conversation_id)
        .where(ConversationEvent.id > config.sla_event_cursor)
        .order_by(ConversationEvent.id)
        .limit(batch * 5)
    ).all()
    changed = {cid for _, cid in rows}
    if rows:
        config.sla_event_cursor = rows[-1][0]
    from socialdesk.automation.engine import dispatch_updates

    dispatch_updates(session, [eid for eid, _ in rows])
    for conversation in _load(session, changed):
        if conversation.status in ACTIVE_STATUSES:
            apply_sla(session, conversation)
        else:
            conversation.first_response_due_at = conversation.next_response_due_at = None
            conversation.resolution_due_at = None

    # 2. Conversations with a clock due within the warning lead.
    horizon = now + lead
    due_soon = session.scalars(
        select(Conversation)
        .where(
            Conversation.status.in_(ACTIVE_STATUSES),
            or_(
                Conversation.first_response_due_at <= horizon,
                Conversation.next_response_due_at <= horizon,
                Conversation.resolution_due_at <= horizon,
            ),
        )
        .limit(batch)
    ).all()
    fired: list[Fired] = []
    for conversation in due_soon:
        state = apply_sla(session, conversation)
        for target, c in state.clocks.items():
            if c.state != "running" or c.due_at is None or c.started_at is None:
                continue
            if now >= c.due_at:
                kind = "sla_breach"
            elif now >= c.due_at - lead:
                kind = "sla_warning"
            else:
                continue
            if _record_alert(session, conversation, kind, c, now):
                fired.append(Fired(conversation.id, kind, target, c.due_at))
    _announce(session, fired)
    return fired


def _load(session: Session, ids: set[int]) -> list[Conversation]:
    out: list[Conversation] = []
    ordered = sorted(ids)
    for i in range(0, len(ordered), 500):
        out.extend(session.scalars(select(Conversation).where(Conversation.id.in_(ordered[i : i + 500]))))
    return out


def _record_alert(session: Session, conversation: Conversation, kind: str, c: Clock, now: datetime) -> bool:
    assert c.started_at is not None and c.due_at is not None
    try:
        with session.begin_nested():
            session.add(
                SlaAlert(
                    conversation_id=conversation.id,
                    target=c.target,
                    kind=kind,
                    cycle_started_at=c.started_at,
                    due_at=c.due_at,
                    fired_at=now,
                )
            )
    except IntegrityError:
        return False  # this cycle's alert was fired before (or by another ticker)
    session.add(
        ConversationEvent(
            conversation_id=conversation.id,
            kind=kind,
            at=now,
            data={"target": c.target, "due_at": c.due_at.isoformat()},
        )
    )
    return True


def _announce(session: Session, fired: list[Fired]) -> None:
    if not fired:
        return
    session.flush()
    from socialdesk import live
    from socialdesk.automation.engine import dispatch

    for f in fired:
        conversation = session.get(Conversation, f.conversation_id)
        if conversation is None:
            continue
        dispatch(session, f.kind, conversation, extra={"sla_target": f.target})
        live.publish("conversation.updated", conversation_id=f.conversation_id, sla=f.kind, target=f.target)


def run_sla_loop(stop: threading.Event, interval: float = 5.0) -> None:
    """Tick every ``interval`` seconds until ``stop`` is set (for the worker or web process)."""
    from socialdesk.db.engine import session_scope

    while not stop.is_set():
        try:
            with session_scope() as session:
                check_sla(session)
        except Exception:  # keep ticking: one bad tick must not stop SLA alerts for good
            log.exception("SLA tick failed")
        stop.wait(interval)
