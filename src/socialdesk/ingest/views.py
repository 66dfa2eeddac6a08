"""Webhook endpoints (protected by platform signatures) and the dead-letter API."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from socialdesk.db.engine import get_sessionmaker
from socialdesk.ingest import webhooks
from socialdesk.ingest.models import DeadLetter
from socialdesk.queue import get_queue
from socialdesk.web.deps import DbSession, require_role

router = APIRouter(tags=["webhooks"])
api = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])


@router.get("/webhooks/{platform}/{account}", response_model=None)
def handshake(platform: str, account: str, request: Request, session: DbSession) -> Any:
    try:
        answer = webhooks.handshake(session, platform, account, dict(request.query_params))
    except webhooks.WebhookError as exc:
        raise HTTPException(exc.status, exc.message) from exc
    if isinstance(answer, str):
        return PlainTextResponse(answer)
    return JSONResponse(answer)


@router.post("/webhooks/{platform}/{account}")
async def receive(platform: str, account: str, request: Request) -> JSONResponse:
    body = await request.body()
    headers = dict(request.headers)
    # Sync DB work off the event loop; the commit happens before we answer 200.
    from starlette.concurrency import run_in_threadpool

    def store() -> dict[str, Any]:
        # Two processes storing the same new thread or customer at once: the loser's unique
        # constraint fails, and on a retry it finds what the winner stored.
        for attempt in range(3):
            session = get_sessionmaker()()
            try:
                outcome = webhooks.receive(session, platform, account, body, headers)
                session.commit()
                break
            except IntegrityError:
                session.rollback()
                if attempt == 2:
                    raise
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
        get_queue().enqueue(outcome.report.message_ids)
        return outcome.to_dict()

    try:
        result = await run_in_threadpool(store)
    except webhooks.WebhookError as exc:
        raise HTTPException(exc.status, exc.message) from exc
    return JSONResponse(result)


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    platform: str
    account_slug: str
    reason: str
    payload: str
    details: dict[str, Any]
    created_at: datetime
    replayed: bool


@api.get("", response_model=list[DeadLetterOut], dependencies=[require_role("admin", "supervisor")])
def list_dead_letters(
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: int | None = None,
) -> list[DeadLetter]:
    query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(DeadLetter.id < before_id)
    return list(session.scalars(query))
