"""Webhook endpoints (protected by platform signatures) and the dead-letter API."""

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from socialdesk.db.engine import get_engine, get_sessionmaker
from socialdesk.ingest import webhooks
from socialdesk.ingest.models import DeadLetter
from socialdesk.ingest.writer import get_writer
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


async def deliver(platform: str, slug: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One webhook delivery → (HTTP status, JSON body).

    Verify and parse here, in the request; the batch writer stores the delivery together with
    whatever else is pending in one transaction, commits, enqueues, and only then does this
    return, so a 200 means stored.
    """
    db_key = str(get_engine().url)
    try:
        ref = webhooks.cached_account(db_key, platform, slug)
        if ref is None:
            ref = await run_in_threadpool(_lookup_account, db_key, platform, slug)
        delivery = webhooks.prepare(ref, body, headers)
    except webhooks.WebhookError as exc:
        return exc.status, _json({"detail": exc.message})
    outcome = await get_writer().store(delivery)
    return 200, _json(outcome.to_dict())


def _lookup_account(db_key: str, platform: str, slug: str) -> webhooks.AccountRef:
    with get_sessionmaker()() as session:
        return webhooks.lookup_account(session, db_key, platform, slug)


def _json(content: Any) -> bytes:
    # As FastAPI's JSONResponse renders it.
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


class _WebhookEndpoint:
    """POST /webhooks/{platform}/{account} as a bare ASGI endpoint.

    At a thousand deliveries a second FastAPI's per-request work (dependency solving, request
    and response objects) cost about as much as verifying, parsing and storing, so the route is
    served here directly; the FastAPI route below, which this one shadows, documents it in the
    OpenAPI schema and answers exactly the same through ``deliver``.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        params = scope["path_params"]
        status, payload = await deliver(params["platform"], params["account"], b"".join(chunks), headers)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(payload)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


router.routes.append(Route("/webhooks/{platform}/{account}", _WebhookEndpoint(), methods=["POST"]))


@router.post("/webhooks/{platform}/{account}")
async def receive(platform: str, account: str, request: Request) -> Response:
    """A platform's signed delivery: answered 200 once its messages are stored (401 bad
    signature, 400 not JSON, 404 unknown account, 413 too large; JSON no connector
    recognises is kept as a dead letter and answered 200 with its id)."""
    status, payload = await deliver(platform, account, await request.body(), dict(request.headers))
    return Response(payload, status, media_type="application/json")


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
