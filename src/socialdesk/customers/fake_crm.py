"""A local CRM that answers the desk's order lookup (see ``customers.crm``), for tests and demos.

It checks the secret header, answers the orders stored for any of the customer's identities
(``platform:external_user_id``) or e-mail (``email:addr``), records every request, and can be
told to fail or to be slow.

Run it alone::

    python -m socialdesk.customers.fake_crm [port]     # endpoint http://127.0.0.1:PORT/orders

or inside tests::

    with running_fake_crm() as crm:
        crm.add_orders("x:501", [{"id": "4471", "status": "shipped", "total": 59.9, "date": "2026-11-20"}])
        ... configure the brand with crm.endpoint, crm.header, crm.secret ...

Control endpoints: ``POST /_orders`` (``{"key": "x:501", "orders": [...]}``), ``GET /_requests``,
``POST /_fail`` (``{"count": 1, "status": 503}``), ``POST /_delay`` (``{"seconds": 3}``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from socialdesk.platforms.fake_server import free_port

HEADER = "X-CRM-Key"
SECRET = "fake-crm-secret"


@dataclass
class FakeCrmState:
    header: str = HEADER
    secret: str = SECRET
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_count: int = 0
    fail_status: int = 503
    delay: float = 0.0
    # For the demo: orders for a customer nobody registered (key → orders); None answers none.
    order_book: Callable[[str], list[dict[str, Any]]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(state: FakeCrmState) -> FastAPI:
    app = FastAPI(title="fake CRM")

    @app.post("/orders")
    async def orders(request: Request) -> JSONResponse:
        body = await request.json()
        given = request.headers.get(state.header)
        with state.lock:
            state.requests.append({"body": body, "authorized": given == state.secret})
            delay = state.delay
            failing = state.fail_count > 0
            if failing:
                state.fail_count -= 1
            status = state.fail_status
        if delay:
            await asyncio.sleep(delay)
        if given != state.secret:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if failing:
            return JSONResponse({"error": "fake failure"}, status_code=status)
        keys = [f"{i['platform']}:{i['external_user_id']}" for i in body.get("identities", [])]
        email = (body.get("customer") or {}).get("email")
        if email:
            keys.append(f"email:{email.lower()}")
        with state.lock:
            found = [o for k in keys for o in state.orders.get(k, [])]
        if not found and state.order_book is not None and keys:
            found = state.order_book(keys[0])
        return JSONResponse({"orders": found})

    @app.post("/_orders")
    async def set_orders(request: Request) -> dict[str, Any]:
        body = await request.json()
        with state.lock:
            state.orders[str(body["key"])] = list(body["orders"])
        return {"ok": True}

    @app.get("/_requests")
    def requests() -> list[dict[str, Any]]:
        with state.lock:
            return list(state.requests)

    @app.post("/_fail")
    async def fail(request: Request) -> dict[str, Any]:
        body = await request.json()
        with state.lock:
            state.fail_count = int(body.get("count", 1))
            state.fail_status = int(body.get("status", 503))
        return {"ok": True}

    @app.post("/_delay")
    async def set_delay(request: Request) -> dict[str, Any]:
        body = await request.json()
        with state.lock:
            state.delay = float(body.get("seconds", 0))
        return {"ok": True}

    return app


@dataclass
class RunningFakeCrm:
    base_url: str
    state: FakeCrmState

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/orders"

    @property
    def header(self) -> str:
        return self.state.header

    @property
    def secret(self) -> str:
        return self.state.secret

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.requests)

    def add_orders(self, key: str, orders: list[dict[str, Any]]) -> None:
        with self.state.lock:
            self.state.orders[key] = list(orders)

    def fail_next(self, count: int, status: int = 503) -> None:
        with self.state.lock:
            self.state.fail_count = count
            self.state.fail_status = status

    def set_delay(self, seconds: float) -> None:
        with self.state.lock:
            self.state.delay = seconds


@contextmanager
def running_fake_crm(
    port: int | None = None, order_book: Callable[[str], list[dict[str, Any]]] | None = None
) -> Iterator[RunningFakeCrm]:
    """Serve a fresh fake CRM on 127.0.0.1 in a background thread for the ``with`` block."""
    state = FakeCrmState(order_book=order_book)
    port = port or free_port()
    config = uvicorn.Config(
        create_app(state), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"fake-crm-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"fake CRM did not start on port {port}")
        time.sleep(0.02)
    try:
        yield RunningFakeCrm(base_url=f"http://127.0.0.1:{port}", state=state)
    finally:
        state.delay = 0
        server.should_exit = True
        thread.join(timeout=5)


def main() -> None:
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else free_port()
    print(f"fake CRM: endpoint http://127.0.0.1:{port}/orders, header {HEADER}: {SECRET}", flush=True)
    uvicorn.run(create_app(FakeCrmState()), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
