"""The FastAPI application: thin routers over the domains' service functions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from socialdesk import __version__
from socialdesk.db.engine import get_engine
from socialdesk.queue import get_queue


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    get_queue().start()
    yield
    get_queue().stop()


def create_app() -> FastAPI:
    app = FastAPI(
        title="socialdesk",
        version=__version__,
        description="Social customer care desk: ingestion webhooks and the JSON API.",
        lifespan=lifespan,
    )
    from socialdesk.conversations.views import router as conversations
    from socialdesk.customers.views import router as customers
    from socialdesk.ingest.views import api as dead_letters
    from socialdesk.ingest.views import router as webhooks

    for router in (webhooks, conversations, customers, dead_letters):
        app.include_router(router)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    return app
