"""/api/v1 agents, teams, assignment, queues, routing settings, SLA policies and calendars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy import select

from socialdesk.conversations.models import Conversation
from socialdesk.routing import policies, service, sla
from socialdesk.routing.models import Agent, BusinessCalendar, SlaPolicy, Team
from socialdesk.routing.schemas import (
    AgentCreate,
    AgentOut,
    AgentUpdate,
    AssignmentIn,
    AssignmentOut,
    AvailabilityIn,
    CalendarIn,
    CalendarOut,
    CalendarUpdate,
    ConversationSla,
    QueueItem,
    RoutingSettings,
    RoutingSettingsUpdate,
    SlaPolicyIn,
    SlaPolicyOut,
    SlaPolicyUpdate,
    TeamCreate,
    TeamOut,
    TeamUpdate,
)
from socialdesk.routing.settings import get_config, update_config
from socialdesk.web.deps import CurrentPrincipal, DbSession, require_role

router = APIRouter(prefix="/api/v1", tags=["agents, teams and routing"])
sla_router = APIRouter(prefix="/api/v1", tags=["SLA"])

Admin = require_role("admin")
Manager = require_role("admin", "supervisor")


@contextmanager
def errors() -> Iterator[None]:
    """Service errors → clear HTTP answers (the transaction is rolled back by the session dep)."""
    try:
        yield
    except service.NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except service.Forbidden as exc:
        raise HTTPException(403, str(exc)) from exc
    except service.RoutingError as exc:
        status = 409 if "already exists" in str(exc) or "already has" in str(exc) else 422
        raise HTTPException(status, str(exc)) from exc


def _agent_out(agent: Agent) -> AgentOut:
    out = AgentOut.model_validate(agent)
    out.team_ids = sorted(t.id for t in agent.teams)
    return out


def _team_out(team: Team) -> TeamOut:
    out = TeamOut.model_validate(team)
    out.agent_ids = sorted(a.id for a in team.agents)
    return out


def _conversation(session: DbSession, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise HTTPException(404, f"conversation {conversation_id} does not exist")
    return conversation


# --- agents ---------------------------------------------------------------------------


@router.get("/agents", response_model=list[AgentOut])
def list_agents(
    session: DbSession, principal: CurrentPrincipal, active: bool | None = None
) -> list[AgentOut]:
    """Every agent (colleagues are visible to all roles; password hashes never are)."""
    query = select(Agent).order_by(Agent.id)
    if active is not None:
        query = query.where(Agent.active.is_(active))
    return [_agent_out(a) for a in session.scalars(query)]


@router.post("/agents", response_model=AgentOut, status_code=201, dependencies=[Admin])
def create_agent(body: AgentCreate, session: DbSession, principal: CurrentPrincipal) -> AgentOut:
    with errors():
        agent = service.create_agent(
            session,
            email=body.email,
            name=body.name,
            role=body.role,
            password=body.password,
            languages=body.languages,
            platforms=body.platforms,
            capacity=body.capacity,
            availability=body.availability,
            team_slugs=body.teams,
            actor=principal,
        )
    return _agent_out(agent)


@router.get("/agents/{agent_id}", response_model=AgentOut)
def get_agent(agent_id: int, session: DbSession, principal: CurrentPrincipal) -> AgentOut:
    with errors():
        return _agent_out(service.get_agent(session, agent_id))


@router.patch("/agents/{agent_id}", response_model=AgentOut, dependencies=[Admin])
def update_agent(
    agent_id: int, body: AgentUpdate, session: DbSession, principal: CurrentPrincipal
) -> AgentOut:
    changes = body.model_dump(exclude_unset=True)
    if "teams" in changes:
        changes["team_slugs"] = changes.pop("teams")
    with errors():
        agent = service.update_agent(
            session, service.get_agent(session, agent_id), actor=principal, **changes
        )
    return _agent_out(agent)


@router.put("/agents/{agent_id}/availability", response_model=AgentOut)
def set_availability(
    agent_id: int, body: AvailabilityIn, session: DbSession, principal: CurrentPrincipal
) -> AgentOut:
    """An agent sets its own availability; supervisors and admins may set anyone's."""
    with errors():
        agent = service.get_agent(session, agent_id)
        service.set_availability(session, agent, body.availability, actor=principal)
    return _agent_out(agent)


# --- teams ----------------------------------------------------------------------------


@router.get("/teams", response_model=list[TeamOut])
def list_teams(session: DbSession, principal: CurrentPrincipal) -> list[TeamOut]:
    return [_team_out(t) for t in session.scalars(select(Team).order_by(Team.id))]


@router.post("/teams", response_model=TeamOut, status_code=201, dependencies=[Admin])
def create_team(body: TeamCreate, session: DbSession, principal: CurrentPrincipal) -> TeamOut:
    with errors():
        team = service.create_team(
            session,
            slug=body.slug,
            name=body.name,
            brand_slug=body.brand,
            languages=body.languages,
            platforms=body.platforms,
            timezone=body.timezone,
            is_senior=body.is_senior,
            is_crisis=body.is_crisis,
            actor=principal,
        )
    return _team_out(team)


@router.get("/teams/{team_id}", response_model=TeamOut)
def get_team(team_id: int, session: DbSession, principal: CurrentPrincipal) -> TeamOut:
    with errors():
        return _team_out(service.get_team(session, team_id))


@router.patch("/teams/{team_id}", response_model=TeamOut, dependencies=[Admin])
def update_team(team_id: int, body: TeamUpdate, session: DbSession, principal: CurrentPrincipal) -> TeamOut:
    with errors():
        team = service.update_team(
            session,
            service.get_team(session, team_id),
            actor=principal,
            **body.model_dump(exclude_unset=True),
        )
    return _team_out(team)


@router.put("/teams/{team_id}/members/{agent_id}", response_model=TeamOut, dependencies=[Admin])
def add_member(team_id: int, agent_id: int, session: DbSession, principal: CurrentPrincipal) -> TeamOut:
    with errors():
        team = service.get_team(session, team_id)
        service.set_membership(session, team, service.get_agent(session, agent_id), True, actor=principal)
    return _team_out(team)


@router.delete("/teams/{team_id}/members/{agent_id}", response_model=TeamOut, dependencies=[Admin])
def remove_member(team_id: int, agent_id: int, session: DbSession, principal: CurrentPrincipal) -> TeamOut:
    with errors():
        team = service.get_team(session, team_id)
        service.set_membership(session, team, service.get_agent(session, agent_id), False, actor=principal)
    return _team_out(team)


@router.get("/teams/{team_id}/queue", response_model=list[QueueItem])
def team_queue(
    team_id: int,
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[QueueItem]:
    """Unassigned conversations waiting in the team's queue: priority first, then SLA due time."""
    with errors():
        service.get_team(session, team_id)
    return [
        QueueItem.model_validate(c) for c in service.team_queue(session, team_id, limit=limit, offset=offset)
    ]


@router.get("/routing/queue", response_model=list[QueueItem])
def unteamed_queue(
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[QueueItem]:
    """Unassigned conversations that no team took (no skill match), same order as team queues."""
    return [
        QueueItem.model_validate(c) for c in service.team_queue(session, None, limit=limit, offset=offset)
    ]


# --- assignment -----------------------------------------------------------------------


@router.post("/conversations/{conversation_id}/assignment", response_model=AssignmentOut)
def assign_conversation(
    conversation_id: int, body: AssignmentIn, session: DbSession, principal: CurrentPrincipal
) -> AssignmentOut:
    """Assign to an agent and/or team. Agents may only take a conversation for themselves
    (or give it back, with both fields empty while they hold it)."""
    conversation = _conversation(session, conversation_id)
    if principal.role == "agent":
        holds = conversation.assignee_id is not None and conversation.assignee_id == principal.agent_id
        if body.agent_id is None and not holds:
            raise HTTPException(403, "an agent may only unassign conversations it holds")
    with errors():
        service.assign(
            session,
            conversation,
            agent_id=body.agent_id,
            team_id=body.team_id,
            actor=principal,
            reason="manual",
        )
    return AssignmentOut(
        conversation_id=conversation.id, agent_id=conversation.assignee_id, team_id=conversation.team_id
    )


@router.post("/conversations/{conversation_id}/route", response_model=AssignmentOut, dependencies=[Manager])
def route_conversation(
    conversation_id: int, session: DbSession, principal: CurrentPrincipal
) -> AssignmentOut:
    """Run routing again (skills, capacity, availability, round-robin) for one conversation."""
    conversation = _conversation(session, conversation_id)
    if conversation.status not in service.ROUTABLE_STATUSES:
        raise HTTPException(
            409, f"conversation {conversation_id} is {conversation.status}; only new/open route"
        )
    with errors():
        decision = service.route(session, conversation, actor=principal)
    return AssignmentOut(
        conversation_id=conversation.id,
        agent_id=conversation.assignee_id,
        team_id=conversation.team_id,
        reason=decision.reason,
    )


# --- settings -------------------------------------------------------------------------


@router.get("/routing/settings", response_model=RoutingSettings, dependencies=[Manager])
def get_settings(session: DbSession) -> RoutingSettings:
    return RoutingSettings.model_validate(get_config(session))


@router.patch("/routing/settings", response_model=RoutingSettings, dependencies=[Admin])
def patch_settings(
    body: RoutingSettingsUpdate, session: DbSession, principal: CurrentPrincipal
) -> RoutingSettings:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    try:
        row = update_config(session, **changes)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    from socialdesk.auth.service import audit

    audit(session, principal.name, "routing.settings", "routing_config", **changes)
    return RoutingSettings.model_validate(row)


# --- SLA ------------------------------------------------------------------------------


@sla_router.get("/conversations/{conversation_id}/sla", response_model=ConversationSla)
def conversation_sla(
    conversation_id: int, session: DbSession, principal: CurrentPrincipal
) -> ConversationSla:
    """The policy that applies, each clock (running/paused/stopped, due, remaining, breached) and
    the warnings and breaches fired so far."""
    return ConversationSla.model_validate(sla.describe(session, _conversation(session, conversation_id)))


@sla_router.get("/sla-policies", response_model=list[SlaPolicyOut])
def list_policies(session: DbSession, principal: CurrentPrincipal) -> list[SlaPolicyOut]:
    return [SlaPolicyOut.model_validate(p) for p in session.scalars(select(SlaPolicy).order_by(SlaPolicy.id))]


@sla_router.post("/sla-policies", response_model=SlaPolicyOut, status_code=201, dependencies=[Admin])
def create_policy(body: SlaPolicyIn, session: DbSession, principal: CurrentPrincipal) -> SlaPolicyOut:
    with errors():
        return SlaPolicyOut.model_validate(
            policies.create_policy(session, actor=principal, **body.model_dump())
        )


@sla_router.patch("/sla-policies/{policy_id}", response_model=SlaPolicyOut, dependencies=[Admin])
def update_policy(
    policy_id: int, body: SlaPolicyUpdate, session: DbSession, principal: CurrentPrincipal
) -> SlaPolicyOut:
    with errors():
        policy = policies.get_policy(session, policy_id)
        policies.update_policy(session, policy, actor=principal, **body.model_dump(exclude_unset=True))
    return SlaPolicyOut.model_validate(policy)


@sla_router.delete("/sla-policies/{policy_id}", status_code=204, dependencies=[Admin])
def delete_policy(policy_id: int, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Deactivates the policy (conversations keep their history; clocks move to the next policy)."""
    with errors():
        policies.update_policy(
            session, policies.get_policy(session, policy_id), actor=principal, active=False
        )
    return Response(status_code=204)


@sla_router.get("/business-calendars", response_model=list[CalendarOut])
def list_calendars(session: DbSession, principal: CurrentPrincipal) -> list[CalendarOut]:
    rows = session.scalars(select(BusinessCalendar).order_by(BusinessCalendar.id))
    return [CalendarOut.model_validate(r) for r in rows]


@sla_router.post("/business-calendars", response_model=CalendarOut, status_code=201, dependencies=[Admin])
def create_calendar(body: CalendarIn, session: DbSession, principal: CurrentPrincipal) -> CalendarOut:
    values = body.model_dump()
    if values["timezone"] is None:
        values.pop("timezone")
    with errors():
        return CalendarOut.model_validate(policies.create_calendar(session, actor=principal, **values))


@sla_router.patch("/business-calendars/{calendar_id}", response_model=CalendarOut, dependencies=[Admin])
def update_calendar(
    calendar_id: int, body: CalendarUpdate, session: DbSession, principal: CurrentPrincipal
) -> CalendarOut:
    with errors():
        row = policies.get_calendar(session, calendar_id)
        policies.update_calendar(session, row, actor=principal, **body.model_dump(exclude_unset=True))
    return CalendarOut.model_validate(row)


@sla_router.delete("/business-calendars/{calendar_id}", status_code=204, dependencies=[Admin])
def delete_calendar(calendar_id: int, session: DbSession, principal: CurrentPrincipal) -> Response:
    with errors():
        row = policies.get_calendar(session, calendar_id)
    session.delete(row)
    from socialdesk.auth.service import audit

    audit(session, principal.name, "business_calendar.delete", f"business_calendar:{calendar_id}")
    return Response(status_code=204)
