"""The FastAPI application: thin routers over the domains' service functions."""

from __future__ import annotations

import gc
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from socialdesk import __version__
from socialdesk.db.engine import get_engine
from socialdesk.queue import get_queue
from socialdesk.queue.base import InProcessQueue

# Every domain's router, "module:attribute"; a domain adds its own line here.
ROUTERS: list[str] = [
    "socialdesk.ingest.views:router",
    "socialdesk.ingest.views:api",
    "socialdesk.conversations.views:router",
    "socialdesk.customers.views:router",
    "socialdesk.assist.checker_views:router",
    "socialdesk.ops.views:router",
    "socialdesk.conversations.actions_views:router",
    "socialdesk.assist.templates_views:router",
    "socialdesk.outbox.views:router",
    "socialdesk.analytics.views:router",
    "socialdesk.routing.views:router",
    "socialdesk.routing.views:sla_router",
    "socialdesk.automation.views:router",
    "socialdesk.web.ui.views:router",
    "socialdesk.listening.views:router",
    "socialdesk.web.ui.settings_sla:router",
    "socialdesk.web.ui.settings_automation:router",
    "socialdesk.web.ui.settings_crm:router",
    "socialdesk.web.ui.customer_panel:router",
    "socialdesk.web.ui.listening:router",
    "socialdesk.web.ui.alerts:router",
    "socialdesk.web.ui.crisis:router",
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    from socialdesk.config import get_settings
    from socialdesk.scheduler import Scheduler

    queue = get_queue()
    queue.start()
    # The embedded default runs the periodic jobs here; at scale `socialdesk scheduler` does.
    scheduler = Scheduler() if get_settings().background_jobs else None
    if scheduler is not None and isinstance(queue, InProcessQueue):
        # Messages stored but not processed when this process last stopped.
        queue.recover()
    if scheduler is not None:
        scheduler.start()
    # Everything loaded so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise walk it all and stall a request for 100+ ms.
    gc.collect()
    gc.freeze()
    # A busy server allocates fast, and with the default thresholds (700, 10, 10) its young
    # collections run hundreds of times a second over the objects of every request in flight
    # (they wait for the batch writer's commit, so they survive into the older generations),
    # each pausing every thread. Collect the young generation every 20,000 allocations and the
    # old one rarely: what is long-lived was frozen above.
    gc.set_threshold(20_000, 20, 100)
    yield
    if scheduler is not None:
        scheduler.stop()
    get_queue().stop()


def create_app() -> FastAPI:
    app = FastAPI(
        title="socialdesk",
        version=__version__,
        description="Social customer care desk: ingestion webhooks and the JSON API.",
        lifespan=lifespan,
    )
    app.add_middleware(importlib.import_module("socialdesk.web.ui.session").BrowserSessionMiddleware)
    # Browser pages answer a refusal with an HTML page; /api keeps JSON.
    importlib.import_module("socialdesk.web.ui.errors").install(app)
    for target in ROUTERS:
        module, _, name = target.partition(":")
        app.include_router(getattr(importlib.import_module(module), name))

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    return app
