"""/api/v1/conversations/...: status, priority, labels, notes, participants, timeline, bulk.

Thin handlers over ``conversations.actions``. The caller is always the actor: no endpoint
takes an "as agent" field, so an agent can act on conversations but never as a colleague.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal, audit
from socialdesk.conversations import actions
from socialdesk.conversations.models import Conversation, ConversationEvent, Note
from socialdesk.conversations.schemas import ConversationOut
from socialdesk.conversations.service import ConversationFilter, QueryError
from socialdesk.web.deps import CurrentPrincipal, DbSession

router = APIRouter(prefix="/api/v1/conversations", tags=["conversation actions"])


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str
    snooze_until: datetime | None = None


class PriorityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    priority: str


class LabelsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str


class NoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    conversation_id: int
    author_agent_id: int | None
    body: str
    mentions: list[int]
    created_at: datetime


class ParticipantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: int


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    at: datetime
    actor_agent_id: int | None
    data: dict[str, Any]


class BulkFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: list[str] | None = None
    platform: list[str] | None = None
    priority: list[str] | None = None
    brand: str | None = None
    assignee: str | None = None
    team_id: int | None = None
    language: str | None = None
    since: datetime | None = None


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["assign", "add_labels", "remove_labels", "resolve", "set_status", "set_priority"]
    ids: list[int] | None = None
    filter: BulkFilter | None = None
    labels: list[str] | None = None
    priority: str | None = None
    status: str | None = None
    agent_id: int | None = None
    team_id: int | None = None


def load(session: Session, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise HTTPException(404, f"conversation {conversation_id} does not exist")
    return conversation


def _fail(exc: Exception) -> HTTPException:
    return HTTPException(422, str(exc))


@router.post("/{conversation_id}/status", response_model=ConversationOut)
def change_status(
    conversation_id: int, body: StatusIn, session: DbSession, principal: CurrentPrincipal
) -> ConversationOut:
    conversation = load(session, conversation_id)
    try:
        actions.change_status(
            session, conversation, body.status, actor=principal, snooze_until=body.snooze_until
        )
    except actions.ActionError as exc:
        raise HTTPException(409 if isinstance(exc, actions.TransitionError) else 422, str(exc)) from exc
    return ConversationOut.model_validate(conversation)


@router.post("/{conversation_id}/priority", response_model=ConversationOut)
def set_priority(
    conversation_id: int, body: PriorityIn, session: DbSession, principal: CurrentPrincipal
) -> ConversationOut:
    conversation = load(session, conversation_id)
    try:
        actions.set_priority(session, conversation, body.priority, actor=principal)
    except actions.ActionError as exc:
        raise _fail(exc) from exc
    return ConversationOut.model_validate(conversation)


@router.post("/{conversation_id}/labels", response_model=ConversationOut)
def change_labels(
    conversation_id: int, body: LabelsIn, session: DbSession, principal: CurrentPrincipal
) -> ConversationOut:
    conversation = load(session, conversation_id)
    if not body.add and not body.remove:
        raise HTTPException(422, "give labels to add and/or remove")
    try:
        if body.add:
            actions.add_labels(session, conversation, body.add, actor=principal)
        if body.remove:
            actions.remove_labels(session, conversation, body.remove, actor=principal)
    except actions.ActionError as exc:
        session.rollback()
        raise _fail(exc) from exc
    return ConversationOut.model_validate(conversation)


@router.get("/{conversation_id}/notes", response_model=list[NoteOut])
def list_notes(conversation_id: int, session: DbSession, principal: CurrentPrincipal) -> list[NoteOut]:
    load(session, conversation_id)
    rows = session.scalars(select(Note).where(Note.conversation_id == conversation_id).order_by(Note.id))
    return [NoteOut.model_validate(n) for n in rows]


@router.post("/{conversation_id}/notes", response_model=NoteOut, status_code=201)
def add_note(conversation_id: int, body: NoteIn, session: DbSession, principal: CurrentPrincipal) -> NoteOut:
    conversation = load(session, conversation_id)
    try:
        note = actions.add_note(session, conversation, body.body, actor=principal)
    except actions.ActionError as exc:
        raise _fail(exc) from exc
    return NoteOut.model_validate(note)


@router.get("/{conversation_id}/participants", response_model=list[int])
def list_participants(conversation_id: int, session: DbSession, principal: CurrentPrincipal) -> list[int]:
    return actions.participants(session, load(session, conversation_id))


@router.post("/{conversation_id}/participants", response_model=list[int])
def add_participant(
    conversation_id: int, body: ParticipantIn, session: DbSession, principal: CurrentPrincipal
) -> list[int]:
    conversation = load(session, conversation_id)
    try:
        actions.add_participant(session, conversation, body.agent_id, actor=principal)
    except actions.ActionError as exc:
        raise _fail(exc) from exc
    return actions.participants(session, conversation)


@router.delete("/{conversation_id}/participants/{agent_id}", response_model=list[int])
def remove_participant(
    conversation_id: int, agent_id: int, session: DbSession, principal: CurrentPrincipal
) -> list[int]:
    conversation = load(session, conversation_id)
    if not actions.remove_participant(session, conversation, agent_id, actor=principal):
        raise HTTPException(404, f"agent {agent_id} was not added as a participant")
    return actions.participants(session, conversation)


@router.get("/{conversation_id}/events", response_model=list[EventOut])
def timeline(conversation_id: int, session: DbSession, principal: CurrentPrincipal) -> list[EventOut]:
    load(session, conversation_id)
    rows = session.scalars(
        select(ConversationEvent)
        .where(ConversationEvent.conversation_id == conversation_id)
        .order_by(ConversationEvent.id)
    )
    return [EventOut.model_validate(e) for e in rows]


def _may_bulk_assign(principal: Principal, body: BulkIn) -> None:
    # Agents may take conversations themselves or hand them to a team queue; assigning a
    # colleague is a supervisor's call.
    if principal.role != "agent" or body.agent_id is None:
        return
    if body.agent_id != principal.agent_id:
        raise HTTPException(403, "agents can assign conversations only to themselves or to a team")


@router.post("/bulk")
def bulk(body: BulkIn, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    if body.action == "assign":
        _may_bulk_assign(principal, body)
    params = body.model_dump(
        include={"labels", "priority", "status", "agent_id", "team_id"}, exclude_none=True
    )
    where = ConversationFilter(**body.filter.model_dump()) if body.filter is not None else None
    try:
        result = actions.bulk(session, body.action, actor=principal, ids=body.ids, where=where, params=params)
    except (actions.ActionError, QueryError) as exc:
        raise _fail(exc) from exc
    audit(
        session,
        principal.name,
        f"conversations.bulk.{body.action}",
        "",
        done=result.done,
        skipped=len(result.skipped),
    )
    return result.to_dict()
