"""Agents, teams and assignment: who gets a conversation.

Routing a conversation (new or reopened):
1. The team: VIP customers and urgency ≥ the configured threshold go to the senior team;
   otherwise a team the conversation already has, else the best skill match among
   non-senior, non-crisis teams (brand, language, platform; an empty skill list means "any").
2. The agent: active, online, with the conversation's language and platform among their
   skills (empty = any), in the team (when there is one), with fewer open conversations
   than their capacity; among those the least recently assigned (round-robin).
3. No eligible agent: the conversation waits in its team's queue (team set, no assignee).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, nulls_first, or_, select
from sqlalchemy.orm import Session

from socialdesk import live
from socialdesk.auth.passwords import hash_password
from socialdesk.auth.service import Principal, audit
from socialdesk.brands.models import Brand
from socialdesk.conversations.models import PRIORITIES, Conversation, ConversationEvent
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
    before = (conversation.assignee_id, conversation.team_id)
    if before == (agent_id, team_id):
        return
    conversation.assignee_id = agent_id
    conversation.team_id = team_id
    now = utcnow()
    if agent is not None and agent_id != before[0]:
        agent.last_assigned_at = now
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


def is_escalation(session: Session, conversation: Conversation) -> str | None:
    config = get_config(session)
    customer = conversation.customer
    if config.route_vip_to_senior and customer is not None and customer.vip:
        return "vip"
    if (conversation.urgency or 0) >= config.senior_urgency_threshold:
        return "urgency"
    return None


# Routing runs for every new conversation: its two queries are built once, with bind
# parameters, so a decision costs two executions and no statement construction.
_TEAMS = select(Team.id, Team.brand_id, Team.languages, Team.platforms, Team.is_senior, Team.is_crisis).where(
    or_(Team.brand_id.is_(None), Team.brand_id == bindparam("brand_id"))
)
_LOAD = (
    select(func.count())
    .where(Conversation.assignee_id == Agent.id, Conversation.status.in_(OPEN_STATUSES))
    .correlate(Agent)
    .scalar_subquery()
)
_CANDIDATES = select(Agent.id, Agent.languages, Agent.platforms, Agent.capacity, _LOAD.label("load")).where(
    Agent.active.is_(True), Agent.availability == "online", Agent.capacity > 0
)
_ORDER = (nulls_first(Agent.last_assigned_at.asc()), Agent.id)
_ANY_AGENT = _CANDIDATES.order_by(*_ORDER)
_TEAM_AGENT = (
    _CANDIDATES.join(team_membership, team_membership.c.agent_id == Agent.id)
    .where(team_membership.c.team_id == bindparam("team_id"))
    .order_by(*_ORDER)
)


def _teams(session: Session, conversation: Conversation) -> list[Any]:
    """The teams that may take the conversation's brand, as light rows (no ORM objects)."""
    return list(session.execute(_TEAMS, {"brand_id": conversation.brand_id}))


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
    escalation = is_escalation(session, conversation)
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
    """Online agents with the skills and spare capacity, least recently assigned first.

    One query: the candidates with their open-conversation count (a correlated count over
    the ``(assignee_id, status)`` index), then the skill lists are checked here.
    """
    if team_id is None:
        rows = session.execute(_ANY_AGENT)
    else:
        rows = session.execute(_TEAM_AGENT, {"team_id": team_id})
    language, platform = conversation.language, conversation.platform
    return [
        row.id
        for row in rows
        if (not row.languages or not language or language in row.languages)
        and (not row.platforms or platform in row.platforms)
        and row.load < row.capacity
    ]


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


def decide(session: Session, conversation: Conversation) -> Decision:
    """The routing decision, without changing anything."""
    team_id, reason = choose_team_id(session, conversation)
    agents = eligible_agent_ids(session, conversation, team_id)
    return Decision(team_id, agents[0] if agents else None, reason)


def assign_within_team(
    session: Session, conversation: Conversation, team_id: int, *, actor: Principal | None, reason: str
) -> int | None:
    """Put the conversation in ``team_id`` and give it to the team's next eligible agent
    (round-robin, capacity, availability), or leave it in the team's queue."""
    get_team(session, team_id)
    ids = eligible_agent_ids(session, conversation, team_id)
    agent_id = ids[0] if ids else None
    if agent_id is None:
        assign(session, conversation, agent_id=None, team_id=team_id, actor=actor, reason=reason)
    else:
        assign(session, conversation, agent_id=agent_id, team_id=team_id, actor=actor, reason=reason)
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
    assign(
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
