"""Agents, teams and assignment: who gets a conversation.

Routing a conversation (new or reopened):
1. The team: VIP customers and urgency ≥ the configured threshold go to the senior team;
   otherwise a team the conversation already has, else the best skill match among
   non-senior, non-crisis teams (brand, language, platform; an empty skill list means "any").
2. The agent: active, online, with the conversation's language and platform among their
   skills (empty = any), in the team (when there is one), with fewer open conversations
   than their capacity; among those the least recently assigned (round-robin).
3. No eligible agent: the conversation waits in its team's queue (team set, no assignee).

A decision is two queries (teams with the customer's VIP flag; the next agent with room),
and routing claims the chosen agent with one conditional UPDATE, which keeps capacity and
the rotation right when several workers route at once (see ``claim_agent``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    String,
    bindparam,
    case,
    func,
    inspect,
    nulls_first,
    or_,
    select,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.visitors import InternalTraversal

from socialdesk import live
from socialdesk.auth.passwords import hash_password
from socialdesk.auth.service import Principal, audit
from socialdesk.brands.models import Brand
from socialdesk.conversations.models import PRIORITIES, Conversation, ConversationEvent
from socialdesk.customers.models import Customer
from socialdesk.db.base import utcnow
from socialdesk.routing.models import AVAILABILITY, ROLES, Agent, Team, team_membership
from socialdesk.routing.settings import get_config

# Conversations that occupy an agent's capacity (pending/snoozed wait on the customer or a time).
OPEN_STATUSES = ("new", "open")
ROUTABLE_STATUSES = ("new", "open")
SYSTEM = Principal(name="system:routing", role="admin")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class RoutingError(ValueError):
    """Bad input to a routing function; the message says what to fix."""


class NotFound(RoutingError):
    pass


class Forbidden(RoutingError):
    pass


# --- authorisation helpers (other routers use these) ----------------------------------


def is_manager(principal: Principal) -> bool:
    return principal.role in ("admin", "supervisor")


def ensure_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise Forbidden(f"only an admin may change this; you are {principal.role}")


def ensure_self_or_manager(principal: Principal, agent_id: int | None) -> None:
    """An agent may act only as itself; supervisors and admins may act for anyone."""
    if is_manager(principal):
        return
    if principal.agent_id is None or principal.agent_id != agent_id:
        raise Forbidden("an agent may only act on its own behalf")


def actor_name(actor: Principal | None) -> str:
    return actor.name if actor else SYSTEM.name


# --- agents and teams -----------------------------------------------------------------


def _codes(values: list[str] | None, what: str) -> list[str]:
    out: list[str] = []
    for raw in values or []:
        value = raw.strip().lower()
        if not value:
            continue
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", value):
            raise RoutingError(f"{what} {raw!r} is not a code like 'de' or 'instagram'")
        if value not in out:
            out.append(value)
    return out


def create_agent(
    session: Session,
    *,
    email: str,
    name: str,
    role: str = "agent",
    password: str | None = None,
    languages: list[str] | None = None,
    platforms: list[str] | None = None,
    capacity: int = 10,
    availability: str = "offline",
    team_slugs: list[str] | None = None,
    actor: Principal | None = None,
) -> Agent:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise RoutingError(f"{email!r} is not an email address")
    if not name.strip():
        raise RoutingError("an agent needs a name")
    if role not in ROLES:
        raise RoutingError(f"unknown role {role!r}; expected {', '.join(ROLES)}")
    if availability not in AVAILABILITY:
        raise RoutingError(f"unknown availability {availability!r}; expected {', '.join(AVAILABILITY)}")
    if not 0 <= capacity <= 1000:
        raise RoutingError("capacity must be between 0 and 1000 open conversations")
    if session.scalar(select(Agent.id).where(Agent.email == email)) is not None:
        raise RoutingError(f"an agent with email {email} already exists")
    teams = [team_by_slug(session, slug) for slug in team_slugs or []]
    try:
        password_hash = hash_password(password) if password is not None else ""
    except ValueError as exc:
        raise RoutingError(str(exc)) from exc
    agent = Agent(
        email=email,
        name=name.strip(),
        role=role,
        password_hash=password_hash,
        languages=_codes(languages, "language"),
        platforms=_codes(platforms, "platform"),
        capacity=capacity,
        availability=availability,
        active=True,
    )
    agent.teams = teams
    session.add(agent)
    session.flush()
    audit(session, actor_name(actor), "agent.create", f"agent:{agent.id}", email=email, role=role)
    return agent


def get_agent(session: Session, agent_id: int) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} does not exist")
    return agent


def update_agent(session: Session, agent: Agent, *, actor: Principal, **changes: Any) -> Agent:
    """Admin edits: name, role, languages, platforms, capacity, active, password, teams."""
    ensure_admin(actor)
    allowed = {"name", "role", "languages", "platforms", "capacity", "active", "password", "team_slugs"}
    unknown = set(changes) - allowed
    if unknown:
        raise RoutingError(f"cannot change {sorted(unknown)}")
    if "role" in changes and changes["role"] not in ROLES:
        raise RoutingError(f"unknown role {changes['role']!r}; expected {', '.join(ROLES)}")
    if "capacity" in changes and not 0 <= changes["capacity"] <= 1000:
        raise RoutingError("capacity must be between 0 and 1000 open conversations")
    if "name" in changes and not str(changes["name"]).strip():
        raise RoutingError("an agent needs a name")
    teams = [team_by_slug(session, s) for s in changes.pop("team_slugs")] if "team_slugs" in changes else None
    if "password" in changes:
        try:
            agent.password_hash = hash_password(changes.pop("password"))
        except ValueError as exc:
            raise RoutingError(str(exc)) from exc
    for key in ("languages", "platforms"):
        if key in changes:
            changes[key] = _codes(changes[key], key[:-1])
    for key, value in changes.items():
        setattr(agent, key, value)
    if teams is not None:
        agent.teams = teams
    deactivated = changes.get("active") is False
    audit(
        session,
        actor.name,
        "agent.update",
        f"agent:{agent.id}",
        fields=sorted(changes) + (["teams"] if teams is not None else []),
    )
    if deactivated:
        release_conversations(session, agent, actor=actor)
    return agent


def set_availability(session: Session, agent: Agent, availability: str, *, actor: Principal) -> Agent:
    """Online/away/offline. Going offline releases the agent's open conversations when
    the routing settings say so (they are routed again to someone online)."""
    ensure_self_or_manager(actor, agent.id)
    if availability not in AVAILABILITY:
        raise RoutingError(f"unknown availability {availability!r}; expected {', '.join(AVAILABILITY)}")
    before = agent.availability
    agent.availability = availability
    audit(session, actor.name, "agent.availability", f"agent:{agent.id}", before=before, after=availability)
    if availability == "offline" and before != "offline" and get_config(session).reassign_on_offline:
        release_conversations(session, agent, actor=actor)
    live.publish("agent.updated", agent_id=agent.id, availability=availability)
    return agent


def release_conversations(session: Session, agent: Agent, *, actor: Principal | None) -> int:
    """Take the agent's open conversations back and route them again."""
    rows = session.scalars(
        select(Conversation).where(
            Conversation.assignee_id == agent.id, Conversation.status.in_(OPEN_STATUSES)
        )
    ).all()
    # The system re-routes (an agent going offline may not assign to colleagues itself).
    for conversation in rows:
        assign(
            session,
            conversation,
            agent_id=None,
            team_id=conversation.team_id,
            actor=None,
            reason="agent_offline",
        )
        route(session, conversation, actor=None)
    return len(rows)


def create_team(
    session: Session,
    *,
    slug: str,
    name: str,
    brand_slug: str | None = None,
    languages: list[str] | None = None,
    platforms: list[str] | None = None,
    timezone: str = "UTC",
    is_senior: bool = False,
    is_crisis: bool = False,
    actor: Principal | None = None,
) -> Team:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not _SLUG.match(slug):
        raise RoutingError(f"team slug {slug!r} must be lowercase letters, digits, '-' or '_'")
    if not name.strip():
        raise RoutingError("a team needs a name")
    if session.scalar(select(Team.id).where(Team.slug == slug)) is not None:
        raise RoutingError(f"a team with slug {slug!r} already exists")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RoutingError(f"unknown timezone {timezone!r}") from exc
    brand_id = None
    if brand_slug:
        brand_id = session.scalar(select(Brand.id).where(Brand.slug == brand_slug))
        if brand_id is None:
            raise RoutingError(f"brand {brand_slug!r} does not exist")
    team = Team(
        slug=slug,
        name=name.strip(),
        brand_id=brand_id,
        languages=_codes(languages, "language"),
        platforms=_codes(platforms, "platform"),
        timezone=timezone,
        is_senior=is_senior,
        is_crisis=is_crisis,
    )
    session.add(team)
    session.flush()
    audit(session, actor_name(actor), "team.create", f"team:{team.id}", slug=slug)
    return team


def update_team(session: Session, team: Team, *, actor: Principal, **changes: Any) -> Team:
    ensure_admin(actor)
    allowed = {"name", "languages", "platforms", "timezone", "is_senior", "is_crisis"}
    unknown = set(changes) - allowed
    if unknown:
        raise RoutingError(f"cannot change {sorted(unknown)}")
    if "timezone" in changes:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(changes["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise RoutingError(f"unknown timezone {changes['timezone']!r}") from exc
    for key in ("languages", "platforms"):
        if key in changes:
            changes[key] = _codes(changes[key], key[:-1])
    for key, value in changes.items():
        setattr(team, key, value)
    audit(session, actor.name, "team.update", f"team:{team.id}", fields=sorted(changes))
    return team


def team_by_slug(session: Session, slug: str) -> Team:
    team = session.scalar(select(Team).where(Team.slug == slug))
    if team is None:
        raise NotFound(f"team {slug!r} does not exist")
    return team


def get_team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} does not exist")
    return team


def set_membership(session: Session, team: Team, agent: Agent, member: bool, *, actor: Principal) -> None:
    ensure_admin(actor)
    if member and agent not in team.agents:
        team.agents.append(agent)
    elif not member and agent in team.agents:
        team.agents.remove(agent)
    audit(
        session,
        actor.name,
        "team.member.add" if member else "team.member.remove",
        f"team:{team.id}",
        agent_id=agent.id,
    )


# --- assignment -----------------------------------------------------------------------


def assign(
    session: Session,
    conversation: Conversation,
    *,
    agent_id: int | None,
    team_id: int | None,
    actor: Principal | None,
    reason: str = "manual",
) -> None:
    """Set the conversation's agent and team.

    ``agent_id=None`` takes the agent away. ``team_id=None`` keeps the current team when an
    agent is given (assigning a person does not drop the queue it came from) and clears it
    when no agent is given either (a full unassign).

    Records an ``assigned`` event, audits a human actor, publishes a live update, and runs
    the ``assignment_changed`` automation rules. Assigning an agent that is not in the
    given team is allowed (supervisors override skills), an inactive agent is not.
    """
    agent = get_agent(session, agent_id) if agent_id is not None else None
    if agent is not None and not agent.active:
        raise RoutingError(f"agent {agent.id} is deactivated")
    if team_id is not None:
        get_team(session, team_id)
    if actor is not None and actor.role == "agent":
        if agent_id not in (None, actor.agent_id):
            raise Forbidden("an agent may only assign conversations to itself")
        if conversation.assignee_id not in (None, actor.agent_id):
            raise Forbidden("this conversation belongs to another agent; ask a supervisor to reassign it")
    if team_id is None and agent_id is not None:
        team_id = conversation.team_id
    if agent is not None and agent_id != conversation.assignee_id:
        agent.last_assigned_at = utcnow()
    _set_assignment(session, conversation, agent_id=agent_id, team_id=team_id, actor=actor, reason=reason)


def _set_assignment(
    session: Session,
    conversation: Conversation,
    *,
    agent_id: int | None,
    team_id: int | None,
    actor: Principal | None,
    reason: str,
) -> None:
    """Record a checked assignment: the columns, an event, the audit, live update, automation.
    The agent's ``last_assigned_at`` is the caller's (a claim or ``assign``)."""
    before = (conversation.assignee_id, conversation.team_id)
    if before == (agent_id, team_id):
        return
    conversation.assignee_id = agent_id
    conversation.team_id = team_id
    now = utcnow()
    session.add(
        ConversationEvent(
            conversation_id=conversation.id,
            kind="assigned",
            at=now,
            actor_agent_id=actor.agent_id if actor else None,
            data={
                "from_agent": before[0],
                "to_agent": agent_id,
                "from_team": before[1],
                "to_team": team_id,
                "reason": reason,
            },
        )
    )
    if actor is not None and not actor.name.startswith(("automation:", "system:")):
        audit(
            session,
            actor.name,
            "conversation.assign",
            f"conversation:{conversation.id}",
            agent_id=agent_id,
            team_id=team_id,
        )
    session.flush()
    live.publish("conversation.updated", conversation_id=conversation.id)
    from socialdesk.automation.engine import dispatch

    dispatch(session, "assignment_changed", conversation)


@dataclass(slots=True)
class Decision:
    team_id: int | None
    agent_id: int | None
    reason: str
    # The agent's last_assigned_at as the decision read it: the claim compares it, so a
    # concurrent worker that assigned the same agent in between makes the claim fail.
    seen: datetime | None = None


def is_escalation(session: Session, conversation: Conversation, *, vip: bool | None = None) -> str | None:
    config = get_config(session)
    if vip is None:
        customer = conversation.customer
        vip = customer is not None and customer.vip
    if config.route_vip_to_senior and vip:
        return "vip"
    if (conversation.urgency or 0) >= config.senior_urgency_threshold:
        return "urgency"
    return None


# --- the routing queries ------------------------------------------------------------------
#
# A decision is two statements: the brand's teams (with the customer's VIP flag), then the
# next agent. Skills are matched in SQL so the open-conversation count, the expensive part,
# is only evaluated for skilled candidates in round-robin order until one has room (the
# outer filter of an ordered derived table is applied row by row under LIMIT 1, on
# PostgreSQL and SQLite alike), usually one count instead of one per candidate.


class _SkillMatch(ColumnElement[bool]):
    """``skills`` (a JSON array of codes) is empty or contains ``value``."""

    inherit_cache = True
    type = Boolean()
    # What the statement cache keys on: without this every routing query recompiles.
    _traverse_internals = [
        ("skills", InternalTraversal.dp_clauseelement),
        ("value", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, skills: Any, value: Any) -> None:
        self.skills = skills
        self.value = value


@compiles(_SkillMatch)
def _skill_match_sqlite(element: _SkillMatch, compiler: Any, **kw: Any) -> str:
    skills = compiler.process(element.skills, **kw)
    value = compiler.process(element.value, **kw)
    return (
        f"(json_array_length({skills}) = 0 OR EXISTS "
        f"(SELECT 1 FROM json_each({skills}) AS skill WHERE skill.value = {value}))"
    )


@compiles(_SkillMatch, "postgresql")
def _skill_match_postgresql(element: _SkillMatch, compiler: Any, **kw: Any) -> str:
    skills = compiler.process(element.skills, **kw)
    value = compiler.process(element.value, **kw)
    return f"(jsonb_array_length({skills}) = 0 OR {skills} ? CAST({value} AS TEXT))"


_TEAMS = select(
    Team.id,
    Team.brand_id,
    Team.languages,
    Team.platforms,
    Team.is_senior,
    Team.is_crisis,
    select(Customer.vip).where(Customer.id == bindparam("customer_id")).scalar_subquery().label("vip"),
).where(or_(Team.brand_id.is_(None), Team.brand_id == bindparam("brand_id")))
_LOAD_OF = func.count()
_ORDER = (nulls_first(Agent.last_assigned_at.asc()), Agent.id)


def _build_pick(*, team: bool, language: bool, first: bool) -> Any:
    """Online, active agents with the skills and room, least recently assigned first."""
    candidates = select(Agent.id, Agent.capacity, Agent.last_assigned_at).where(
        Agent.active.is_(True),
        Agent.availability == "online",
        Agent.capacity > 0,
        _SkillMatch(Agent.platforms, bindparam("platform", type_=String())),
        Agent.id.not_in(bindparam("exclude", expanding=True)),
    )
    if language:
        candidates = candidates.where(_SkillMatch(Agent.languages, bindparam("language", type_=String())))
    if team:
        candidates = candidates.join(team_membership, team_membership.c.agent_id == Agent.id).where(
            team_membership.c.team_id == bindparam("team_id")
        )
    # The LIMIT keeps the derived table from being flattened into the outer query (SQLite),
    # which would count every candidate's load before sorting.
    ordered = candidates.order_by(*_ORDER).limit(100_000).subquery("candidate")
    load = (
        select(_LOAD_OF)
        .where(Conversation.assignee_id == ordered.c.id, Conversation.status.in_(OPEN_STATUSES))
        .scalar_subquery()
    )
    query = select(ordered.c.id, ordered.c.last_assigned_at).where(load < ordered.c.capacity)
    return query.limit(1) if first else query


_PICK = {
    (team, language, first): _build_pick(team=team, language=language, first=first)
    for team in (False, True)
    for language in (False, True)
    for first in (False, True)
}


def _candidates(
    session: Session, conversation: Conversation, team_id: int | None, *, first: bool, exclude: list[int]
) -> list[Any]:
    query = _PICK[(team_id is not None, bool(conversation.language), first)]
    params: dict[str, Any] = {"platform": conversation.platform or "", "exclude": exclude}
    if conversation.language:
        params["language"] = conversation.language
    if team_id is not None:
        params["team_id"] = team_id
    return list(session.execute(query, params))


def _teams(session: Session, conversation: Conversation) -> list[Any]:
    """The teams that may take the conversation's brand, as light rows (no ORM objects);
    each row also carries the customer's VIP flag, so routing needs no customer query."""
    return list(
        session.execute(_TEAMS, {"brand_id": conversation.brand_id, "customer_id": conversation.customer_id})
    )


def _vip(session: Session, conversation: Conversation, rows: list[Any]) -> bool:
    if conversation.customer_id is None:
        return False
    if "customer" not in inspect(conversation).unloaded:
        customer = conversation.customer  # already in memory, maybe changed and not flushed
        return customer is not None and customer.vip
    if rows:
        return bool(rows[0].vip)
    return bool(session.scalar(select(Customer.vip).where(Customer.id == conversation.customer_id)))


def _senior_team_id(rows: list[Any]) -> int | None:
    """The brand's own senior team first, else a brand-less one; lowest id wins a tie."""
    seniors = sorted((r for r in rows if r.is_senior), key=lambda r: (r.brand_id is None, r.id))
    return seniors[0].id if seniors else None


def _skill_team_id(rows: list[Any], conversation: Conversation) -> int | None:
    """Best non-senior team by skills: every listed skill must match; more matches win."""
    best: tuple[int, int] | None = None
    chosen = None
    for team in rows:
        if team.is_senior or team.is_crisis:
            continue
        if team.languages and conversation.language not in team.languages:
            continue
        if team.platforms and conversation.platform not in team.platforms:
            continue
        score = (
            4 * (team.brand_id is not None) + 2 * bool(team.languages) + bool(team.platforms),
            -team.id,
        )
        if best is None or score > best:
            best, chosen = score, team.id
    return chosen


def senior_team(session: Session, conversation: Conversation) -> Team | None:
    """The senior team of the conversation's brand, else a brand-less senior team."""
    team_id = _senior_team_id(_teams(session, conversation))
    return session.get(Team, team_id) if team_id is not None else None


def skill_team(session: Session, conversation: Conversation) -> Team | None:
    team_id = _skill_team_id(_teams(session, conversation), conversation)
    return session.get(Team, team_id) if team_id is not None else None


def choose_team_id(session: Session, conversation: Conversation) -> tuple[int | None, str]:
    rows = _teams(session, conversation)
    current = next((r for r in rows if r.id == conversation.team_id), None)
    if current is not None and current.is_crisis:
        return current.id, "crisis"  # crisis mode put it there; escalation does not move it out
    escalation = is_escalation(session, conversation, vip=_vip(session, conversation, rows))
    if escalation:
        senior = _senior_team_id(rows)
        if senior is not None:
            return senior, escalation
    if current is not None:
        return current.id, "team"
    return _skill_team_id(rows, conversation), "skills"


def choose_team(session: Session, conversation: Conversation) -> tuple[Team | None, str]:
    team_id, reason = choose_team_id(session, conversation)
    return (session.get(Team, team_id) if team_id is not None else None), reason


def eligible_agent_ids(session: Session, conversation: Conversation, team_id: int | None) -> list[int]:
    """Online agents with the skills and spare capacity, least recently assigned first."""
    return [row.id for row in _candidates(session, conversation, team_id, first=False, exclude=[])]


def eligible_agents(session: Session, conversation: Conversation, team: Team | None) -> list[Agent]:
    ids = eligible_agent_ids(session, conversation, team.id if team else None)
    return [get_agent(session, agent_id) for agent_id in ids]


def open_load(session: Session, agent_ids: list[int]) -> dict[int, int]:
    """Open conversations per agent (the capacity count)."""
    rows = session.execute(
        select(Conversation.assignee_id, func.count())
        .where(Conversation.assignee_id.in_(agent_ids), Conversation.status.in_(OPEN_STATUSES))
        .group_by(Conversation.assignee_id)
    ).all()
    return {agent_id: count for agent_id, count in rows}


def _next_agent(
    session: Session, conversation: Conversation, team_id: int | None, exclude: list[int]
) -> tuple[int | None, datetime | None]:
    rows = _candidates(session, conversation, team_id, first=True, exclude=exclude)
    return (rows[0].id, rows[0].last_assigned_at) if rows else (None, None)


def decide(session: Session, conversation: Conversation) -> Decision:
    """The routing decision, without changing anything: two queries."""
    team_id, reason = choose_team_id(session, conversation)
    agent_id, seen = _next_agent(session, conversation, team_id, [])
    return Decision(team_id, agent_id, reason, seen)


# --- claiming an agent under concurrency ------------------------------------------------
#
# Several workers route at once. Reading "the least recently assigned agent with room" and
# then assigning is a race: two workers would both give their conversation to the same
# agent (unfair, and one over capacity). The claim is one conditional UPDATE that succeeds
# only if, when it runs, the agent is still active and online, still has room (counted on
# committed data), was not assigned by anyone since the decision read it (``last_assigned_at``
# unchanged: every assignment moves it), and (PostgreSQL) is not being assigned right now
# by a transaction that has not committed yet (``FOR UPDATE SKIP LOCKED``: skipped, not
# waited for, so two transactions routing several conversations cannot deadlock). A failed
# claim tries the next agent; if every candidate was taken meanwhile, it starts over after
# a short pause, a few times, before the conversation waits in its team's queue.

# How long a worker keeps trying while every candidate is held by uncommitted transactions
# (they commit within milliseconds), before the conversation waits in its queue.
_CLAIM_PATIENCE_S = 2.0
_CLAIM_PAUSE_S = 0.002


def _claim_statement(dialect: str) -> Any:
    load = (
        select(func.count())
        .where(Conversation.assignee_id == bindparam("agent_id"), Conversation.status.in_(OPEN_STATUSES))
        .scalar_subquery()
    )
    query = (
        update(Agent)
        .where(
            Agent.id == bindparam("agent_id"),
            Agent.last_assigned_at.is_not_distinct_from(bindparam("seen", type_=Agent.last_assigned_at.type)),
            Agent.active.is_(True),
            Agent.availability == "online",
            load < Agent.capacity,
        )
        .execution_options(synchronize_session=False)
    )
    if dialect != "postgresql":  # one writer at a time: the transaction's clock is the order
        return query.values(last_assigned_at=bindparam("now", type_=Agent.last_assigned_at.type))
    free = select(Agent.id).where(Agent.id == bindparam("agent_id")).with_for_update(skip_locked=True)
    # The time the row is actually claimed, not when this worker computed it: a worker that
    # was descheduled in between would otherwise stamp an older time and skew the rotation.
    return (
        query.where(Agent.id.in_(free.scalar_subquery()))
        .values(last_assigned_at=func.clock_timestamp())
        .returning(Agent.last_assigned_at)
    )


_CLAIM = {name: _claim_statement(name) for name in ("postgresql", "sqlite")}


def claim_agent(session: Session, agent_id: int, seen: datetime | None, now: datetime) -> datetime | None:
    """Take ``agent_id`` for one new assignment if nobody else did since ``seen``; returns
    the agent's new ``last_assigned_at``, or None when the claim failed."""
    if session.get_bind().dialect.name == "postgresql":
        stamped = session.execute(_CLAIM["postgresql"], {"agent_id": agent_id, "seen": seen}).scalar()
        claimed = stamped is not None
        now = stamped or now
    else:
        result = session.execute(_CLAIM["sqlite"], {"agent_id": agent_id, "seen": seen, "now": now})
        claimed = result.rowcount == 1
    if claimed:
        agent = session.identity_map.get(identity_key(Agent, agent_id))
        if agent is not None:
            set_committed_value(agent, "last_assigned_at", now)
    return now if claimed else None


def _pick_and_claim(
    session: Session,
    conversation: Conversation,
    team_id: int | None,
    first: tuple[int | None, datetime | None] | None = None,
) -> int | None:
    """The next eligible agent, claimed (see above); None leaves the conversation queued.

    A failed claim reads again: an agent assigned meanwhile by a committed transaction comes
    back with a new ``last_assigned_at`` (and the rotation moves on); one that comes back
    unchanged is held by a transaction still running and is passed over for now.
    """
    deadline = time.monotonic() + _CLAIM_PATIENCE_S
    pause = _CLAIM_PAUSE_S
    candidate = first if first is not None else _next_agent(session, conversation, team_id, [])
    while True:
        exclude: list[int] = []
        failed: set[tuple[int, datetime | None]] = set()
        agent_id, seen = candidate
        while agent_id is not None:
            if claim_agent(session, agent_id, seen, utcnow()) is not None:
                return agent_id
            if (agent_id, seen) in failed:
                exclude.append(agent_id)
            failed.add((agent_id, seen))
            agent_id, seen = _next_agent(session, conversation, team_id, exclude)
        if not exclude or time.monotonic() > deadline:
            return None  # nobody eligible (or still held after a long wait): the queue
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
        candidate = _next_agent(session, conversation, team_id, [])


def assign_within_team(
    session: Session, conversation: Conversation, team_id: int, *, actor: Principal | None, reason: str
) -> int | None:
    """Put the conversation in ``team_id`` and give it to the team's next eligible agent
    (round-robin, capacity, availability), or leave it in the team's queue."""
    get_team(session, team_id)
    agent_id = _pick_and_claim(session, conversation, team_id)
    _set_assignment(session, conversation, agent_id=agent_id, team_id=team_id, actor=actor, reason=reason)
    return agent_id


def route(session: Session, conversation: Conversation, *, actor: Principal | None = None) -> Decision:
    """Route a new or reopened conversation; an assigned, online agent keeps it."""
    if conversation.assignee_id is not None:
        current = session.get(Agent, conversation.assignee_id)
        if (
            current is not None
            and current.active
            and current.availability == "online"
            and not is_escalation(session, conversation)
        ):
            return Decision(conversation.team_id, current.id, "kept")
    decision = decide(session, conversation)
    if decision.agent_id is not None:
        agent_id = _pick_and_claim(
            session, conversation, decision.team_id, (decision.agent_id, decision.seen)
        )
        decision = Decision(decision.team_id, agent_id, decision.reason)
    _set_assignment(
        session,
        conversation,
        agent_id=decision.agent_id,
        team_id=decision.team_id,
        actor=actor,
        reason=f"routing:{decision.reason}",
    )
    return decision


def team_queue(
    session: Session, team_id: int | None, *, limit: int = 50, offset: int = 0
) -> list[Conversation]:
    """Unassigned active conversations of a team (None = no team), by priority then SLA due.

    The SLA due time is the running response clock (first or next response), else the
    resolution clock; conversations with no running clock come last.
    """
    priority_rank = case(
        {p: i for i, p in enumerate(PRIORITIES)}, value=Conversation.priority, else_=len(PRIORITIES)
    )
    due = func.coalesce(
        Conversation.first_response_due_at,
        Conversation.next_response_due_at,
        Conversation.resolution_due_at,
    )
    query = select(Conversation).where(
        Conversation.assignee_id.is_(None), Conversation.status.in_(("new", "open"))
    )
    query = query.where(
        Conversation.team_id.is_(None) if team_id is None else Conversation.team_id == team_id
    )
    query = query.order_by(
        priority_rank, nulls_last_expr(due), due, Conversation.last_message_at, Conversation.id
    )
    return list(session.scalars(query.limit(limit).offset(offset)))


def nulls_last_expr(expr: Any) -> Any:
    """1 for NULL, else 0: sorts NULLs last on SQLite and PostgreSQL alike."""
    return case((expr.is_(None), 1), else_=0)


def earliest_due(conversation: Conversation) -> datetime | None:
    dues = [
        d
        for d in (
            conversation.first_response_due_at,
            conversation.next_response_due_at,
            conversation.resolution_due_at,
        )
        if d is not None
    ]
    return min(dues) if dues else None
