"""/api/v1/conversations/{id}/replies and /handoff, and /api/v1/outbox for supervisors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from socialdesk.conversations.actions_views import load
from socialdesk.conversations.models import ConversationEvent
from socialdesk.conversations.schemas import MessageOut
from socialdesk.db.base import utcnow
from socialdesk.outbox import service
from socialdesk.outbox.models import OUTBOX_STATES, OutboxItem
from socialdesk.web.deps import CurrentPrincipal, DbSession, require_role

router = APIRouter(tags=["replies"])


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = ""
    template_id: int | None = None
    # None: answer the way the customer last wrote (public or private).
    public: bool | None = None
    # X public posts over 280: post as a numbered thread instead of refusing.
    split: bool = False


class HandoffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_text: str | None = None
    private_text: str | None = None


class OutboxItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    message_id: int
    conversation_id: int
    platform: str
    state: str
    is_public: bool
    attempts: int
    next_attempt_at: datetime
    last_error: str
    last_status: int | None
    external_id: str | None
    sent_at: datetime | None
    automatic: bool
    after_item_id: int | None


def _error(exc: service.ReplyError) -> HTTPException:
    if isinstance(exc, service.LimitError):
        detail: Any = {
            "message": str(exc),
            "length": exc.length,
            "limit": exc.limit,
            "split_parts": exc.parts,
        }
        return HTTPException(422, detail)
    return HTTPException(422, str(exc))


@router.post("/api/v1/conversations/{conversation_id}/replies", status_code=201)
def reply(
    conversation_id: int, body: ReplyIn, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Queue a reply in the outbox; the sender delivers it (``socialdesk outbox send``)."""
    conversation = load(session, conversation_id)
    try:
        message = service.queue_reply(
            session,
            conversation,
            body.text,
            actor=principal,
            template_id=body.template_id,
            public=body.public,
            split=body.split,
        )
    except service.ReplyError as exc:
        raise _error(exc) from exc
    # The reply's item, then the later parts of a split thread, each waiting on the one before.
    items = [session.scalars(select(OutboxItem).where(OutboxItem.message_id == message.id)).one()]
    while (
        nxt := session.scalar(select(OutboxItem).where(OutboxItem.after_item_id == items[-1].id))
    ) is not None:
        items.append(nxt)
    return {
        "message": MessageOut.model_validate(message).model_dump(mode="json"),
        "outbox": [OutboxItemOut.model_validate(i).model_dump(mode="json") for i in items],
    }


@router.get("/api/v1/conversations/{conversation_id}/replies", response_model=list[OutboxItemOut])
def replies(conversation_id: int, session: DbSession, principal: CurrentPrincipal) -> list[OutboxItemOut]:
    load(session, conversation_id)
    rows = session.scalars(
        select(OutboxItem).where(OutboxItem.conversation_id == conversation_id).order_by(OutboxItem.id)
    )
    return [OutboxItemOut.model_validate(r) for r in rows]


@router.post("/api/v1/conversations/{conversation_id}/handoff", status_code=201)
def handoff(
    conversation_id: int, body: HandoffIn, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    """A short public reply ("we've sent you a DM") and the first DM, in this conversation; the
    customer's DM thread (``dm_thread_keys``) continues this conversation from now on, and an
    existing private conversation on it is linked (``linked_conversation_id``), not merged."""
    conversation = load(session, conversation_id)
    try:
        public, private = service.handoff(
            session,
            conversation,
            actor=principal,
            public_text=body.public_text,
            private_text=body.private_text,
        )
    except service.ReplyError as exc:
        raise _error(exc) from exc
    event = session.scalars(
        select(ConversationEvent)
        .where(ConversationEvent.conversation_id == conversation.id, ConversationEvent.kind == "handoff")
        .order_by(ConversationEvent.id.desc())
        .limit(1)
    ).one()
    return {
        "public": MessageOut.model_validate(public).model_dump(mode="json"),
        "private": MessageOut.model_validate(private).model_dump(mode="json"),
        "visibility": conversation.visibility,
        "dm_thread_keys": event.data.get("dm_thread_keys", []),
        "linked_conversation_id": event.data.get("linked_conversation_id"),
    }


@router.get(
    "/api/v1/outbox", response_model=list[OutboxItemOut], dependencies=[require_role("admin", "supervisor")]
)
def outbox(
    session: DbSession,
    state: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OutboxItemOut]:
    query = select(OutboxItem).order_by(OutboxItem.id.desc()).limit(limit)
    if state:
        unknown = set(state) - set(OUTBOX_STATES)
        if unknown:
            raise HTTPException(
                422, f"unknown state {sorted(unknown)}; expected any of {', '.join(OUTBOX_STATES)}"
            )
        query = query.where(OutboxItem.state.in_(state))
    return [OutboxItemOut.model_validate(r) for r in session.scalars(query)]


@router.post(
    "/api/v1/outbox/{item_id}/retry",
    response_model=OutboxItemOut,
    dependencies=[require_role("admin", "supervisor")],
)
def retry(item_id: int, session: DbSession) -> OutboxItemOut:
    """Queue a failed reply again (after fixing the account or the platform's complaint)."""
    item = session.get(OutboxItem, item_id)
    if item is None:
        raise HTTPException(404, f"outbox item {item_id} does not exist")
    if item.state != "failed":
        raise HTTPException(409, f"outbox item {item_id} is {item.state}; only failed items can be retried")
    item.state = "queued"
    item.attempts = 0
    item.next_attempt_at = utcnow()
    item.message.delivery_status = "queued"
    return OutboxItemOut.model_validate(item)
