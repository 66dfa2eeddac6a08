"""Replaying one conversation's events into the measured intervals of docs/kpis.md.

Pure functions over plain values: the rollup feeds them rows, the tests feed them hand-made
timelines. Every rule here is written down in docs/kpis.md; change both together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# business_seconds(start, end): seconds of [start, end) that fall inside business hours.
Clock = Callable[[datetime, datetime], float]

FINISHED = {"resolved", "closed"}
PAUSED = {"pending", "snoozed"}  # waiting on the customer, or put aside until a time


def calendar_seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


@dataclass(slots=True, frozen=True)
class Event:
    kind: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    actor_agent_id: int | None = None
    id: int = 0


@dataclass(slots=True)
class Response:
    kind: str  # "first" or "next"
    started_at: datetime
    stopped_at: datetime
    seconds: float
    business_seconds: float
    agent_id: int | None


@dataclass(slots=True)
class Resolution:
    cycle: int
    started_at: datetime
    resolved_at: datetime
    seconds: float
    business_seconds: float
    gross_seconds: float
    agent_id: int | None


@dataclass(slots=True)
class SlaOutcome:
    result: str = ""  # "met", "breached" or ""
    at: datetime | None = None


@dataclass(slots=True)
class Timeline:
    responses: list[Response] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    reopen_count: int = 0
    sla: dict[str, SlaOutcome] = field(default_factory=dict)
    last_event_id: int = 0


@dataclass(slots=True, frozen=True)
class SlaClock:
    """Where an SLA clock ended: when it stopped and the due time it had then (routing's clocks)."""

    stopped_at: datetime | None
    due_at: datetime | None


@dataclass(slots=True, frozen=True)
class SlaTargets:
    """The SLA policy's clocks for this conversation; empty when no policy applies."""

    clocks: dict[str, SlaClock] = field(default_factory=dict)


def _status_target(event: Event) -> str | None:
    if event.kind == "status_changed":
        to = event.data.get("to")
        return str(to) if isinstance(to, str) and to else None
    if event.kind in ("resolved", "closed", "pending", "snoozed"):
        return event.kind
    if event.kind in ("unsnoozed", "woke", "opened"):
        return "open"
    return None


def sla_target_name(raw: object) -> str:
    name = str(raw or "").lower()
    if "first" in name:
        return "first_response"
    if "next" in name:
        return "next_response"
    if "resol" in name:
        return "resolution"
    return name


def replay(
    events: Iterable[Event],
    *,
    clock: Clock = calendar_seconds,
    default_agent_id: int | None = None,
    sla: SlaTargets | None = None,
) -> Timeline:
    """Measure one conversation from its events, in (at, id) order (docs/kpis.md)."""
    out = Timeline()
    status = "new"
    agent_id = default_agent_id
    waiting_since: datetime | None = None
    cycle_start: datetime | None = None
    paused_since: datetime | None = None
    paused: list[tuple[datetime, datetime]] = []
    breaches: dict[str, datetime] = {}

    def measure(start: datetime, stop: datetime) -> tuple[float, float]:
        """(calendar, business) seconds of [start, stop) with pending/snoozed stretches left out."""
        spans = paused + ([(paused_since, stop)] if paused_since is not None else [])
        pieces = [(max(a, start), min(b, stop)) for a, b in spans if min(b, stop) > max(a, start)]
        net = calendar_seconds(start, stop) - sum(calendar_seconds(a, b) for a, b in pieces)
        business = clock(start, stop) - sum(clock(a, b) for a, b in pieces)
        return max(net, 0.0), max(business, 0.0)

    def set_status(new: str, at: datetime) -> None:
        nonlocal status, paused_since, cycle_start, waiting_since
        old = status
        if new == old:
            return
        if old in FINISHED and new not in FINISHED:
            # A reopen: a new resolution cycle starts now.
            out.reopen_count += 1
            cycle_start = at
        if old in PAUSED and paused_since is not None and new not in PAUSED:
            paused.append((paused_since, at))
            paused_since = None
        if new in PAUSED and paused_since is None:
            paused_since = at
        if new in FINISHED and old not in FINISHED:
            if paused_since is not None:
                paused.append((paused_since, at))
                paused_since = None
            if cycle_start is not None:
                net, business = measure(cycle_start, at)
                out.resolutions.append(
                    Resolution(
                        cycle=len(out.resolutions) + 1,
                        started_at=cycle_start,
                        resolved_at=at,
                        seconds=net,
                        business_seconds=business,
                        gross_seconds=calendar_seconds(cycle_start, at),
                        agent_id=agent_id,
                    )
                )
            cycle_start = None
            # Resolving without answering ends the wait; an unanswered message is no response.
            waiting_since = None
        status = new

    for event in sorted(events, key=lambda e: (e.at, e.id)):
        out.last_event_id = max(out.last_event_id, event.id)
        kind = event.kind
        if kind == "assigned":
            value = event.data.get("agent_id", event.data.get("to"))
            agent_id = int(value) if isinstance(value, int | str) and str(value).isdigit() else None
        elif kind == "created":
            if cycle_start is None and not out.resolutions:
                cycle_start = event.at
        elif kind == "reopened":
            set_status("open", event.at)
        elif kind == "message_in":
            if status in FINISHED:  # a reopen its writer did not record as an event
                set_status("open", event.at)
            if cycle_start is None and not out.resolutions:
                cycle_start = event.at
            if waiting_since is None:
                waiting_since = event.at
        elif kind == "message_out":
            if status == "new":
                status = "open"
            if waiting_since is not None:
                net, business = measure(waiting_since, event.at)
                out.responses.append(
                    Response(
                        kind="next" if out.responses else "first",
                        started_at=waiting_since,
                        stopped_at=event.at,
                        seconds=net,
                        business_seconds=business,
                        agent_id=event.actor_agent_id or agent_id,
                    )
                )
                waiting_since = None
        elif kind == "sla_breach":
            breaches.setdefault(sla_target_name(event.data.get("target")), event.at)
        else:
            new = _status_target(event)
            if new:
                if cycle_start is None and not out.resolutions and new not in FINISHED:
                    cycle_start = event.at
                set_status(new, event.at)
    out.sla = _sla_outcomes(breaches, sla or SlaTargets())
    return out


def _sla_outcomes(breaches: dict[str, datetime], sla: SlaTargets) -> dict[str, SlaOutcome]:
    """Breached if a breach event fired or the clock stopped after its due time; met if it
    stopped in time; "" while the clock runs or when the policy sets no such target."""
    result = {name: SlaOutcome() for name in ("first_response", "next_response", "resolution")}
    for name in result:
        if name in breaches:
            result[name] = SlaOutcome("breached", breaches[name])
            continue
        c = sla.clocks.get(name)
        if c is None or c.stopped_at is None or c.due_at is None:
            continue
        result[name] = SlaOutcome("met" if c.stopped_at <= c.due_at else "breached", c.stopped_at)
    return result
