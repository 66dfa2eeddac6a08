"""Operations endpoints: readiness, Prometheus metrics, and the queue's state and dead letters."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from socialdesk.auth.service import Principal
from socialdesk.ops import service
from socialdesk.web.deps import DbSession, require_role


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    if os.environ.get("SOCIALDESK_LOG_FORMAT"):
        from socialdesk.ops.logging import configure_logging

        configure_logging()
    service.start_live_relay()
    yield


router = APIRouter(tags=["operations"], lifespan=lifespan)


@router.get("/readyz")
def readyz() -> JSONResponse:
    """200 when this process can serve: the database answers, and Redis when it is configured."""
    checks = service.readiness()
    ready = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503
    )


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    body, content_type = service.metrics_text()
    return Response(body, media_type=content_type)


class ReplayRequest(BaseModel):
    entry_ids: list[str] | None = None  # None replays every dead letter


@router.get("/api/v1/queue", dependencies=[require_role("admin", "supervisor")])
def queue_stats() -> dict[str, Any]:
    return service.queue_stats()


@router.get("/api/v1/queue/dead-letters", dependencies=[require_role("admin", "supervisor")])
def queue_dead_letters(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """Messages the workers gave up on, newest first, with their last error."""
    try:
        return service.dead_letters(limit)
    except service.OpsError as exc:
        raise HTTPException(exc.status, str(exc)) from exc


@router.post("/api/v1/queue/dead-letters/replay")
def queue_replay(
    body: ReplayRequest, session: DbSession, principal: Annotated[Principal, require_role("admin")]
) -> dict[str, Any]:
    """Put dead-lettered messages back on the stream (admins only); audited."""
    try:
        replayed = service.replay(session, principal.name, body.entry_ids)
    except service.OpsError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return {"replayed": replayed}
