"""/api/v1/conversations: the inbox, read side."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from socialdesk.conversations import service
from socialdesk.conversations.schemas import ConversationDetail, ConversationOut, ConversationPage
from socialdesk.web.deps import CurrentPrincipal, DbSession

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


@router.get("", response_model=ConversationPage)
def list_conversations(
    session: DbSession,
    principal: CurrentPrincipal,
    status: Annotated[list[str] | None, Query()] = None,
    platform: Annotated[list[str] | None, Query()] = None,
    priority: Annotated[list[str] | None, Query()] = None,
    brand: str | None = None,
    assignee: str | None = None,
    team_id: int | None = None,
    language: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ConversationPage:
    f = service.ConversationFilter(
        status=status,
        platform=platform,
        priority=priority,
        brand=brand,
        assignee=assignee,
        team_id=team_id,
        language=language,
        since=since,
    )
    try:
        rows, next_cursor = service.list_conversations(session, f, limit=limit, cursor=cursor)
    except service.QueryError as exc:
        raise HTTPException(422, str(exc)) from exc
    return ConversationPage(items=[ConversationOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{conversation_id}", response_model=ConversationDetail)
def get_conversation(
    conversation_id: int, session: DbSession, principal: CurrentPrincipal
) -> ConversationDetail:
    conversation = service.get_conversation(session, conversation_id)
    if conversation is None:
        raise HTTPException(404, f"conversation {conversation_id} does not exist")
    return ConversationDetail.model_validate(conversation)
