"""A local stand-in for the platforms' reply endpoints, for tests and the demo.

It answers the documented send endpoints of every connector with ids in each platform's
documented response shape, records every request it receives, returns the same id for a
repeated ``Idempotency-Key``, and can be told to fail the next N requests.

Run it alone::

    uvicorn socialdesk.platforms.fake_server:app --host 127.0.0.1 --port 8765

or inside tests::

    with running_fake_server() as fake:
        account = AccountCredentials(api_base_url=fake.base_url, ...)
        ...
        assert fake.requests[-1]["path"] == "/2/tweets"

Control endpoints: ``GET /_sent`` (recorded requests), ``POST /_fail``
(``{"count": 2, "status": 503}``), ``POST /_reset``.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from socialdesk.platforms._common import IDEMPOTENCY_HEADER


@dataclass
class FakeState:
    """Everything the fake remembers; one lock guards it (uvicorn serves from a thread)."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    fail_count: int = 0
    fail_status: int = 503
    fail_message: str = "Service temporarily unavailable (fake failure)"
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_number(self) -> int:
        return next(self.counter)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.by_key.clear()
            self.fail_count = 0
            self.counter = itertools.count(1)


def _error_body(platform: str, status: int, message: str) -> dict[str, Any]:
    """A failure in the platform's own documented error shape."""
    if platform == "x":
        return {"title": "Service Unavailable", "detail": message, "type": "about:blank", "status": status}
    if platform == "telegram":
        return {"ok": False, "error_code": status, "description": message}
    if platform == "youtube":
        return {"error": {"code": status, "message": message, "errors": [{"reason": "backendError"}]}}
    return {"error": {"message": message, "type": "OAuthException", "code": 2, "fbtrace_id": "fake"}}


def create_app(state: FakeState | None = None) -> FastAPI:
    state = state or FakeState()
    app = FastAPI(title="socialdesk fake platforms")
    app.state.fake = state

    async def handle(request: Request, platform: str, make: Any) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        record = {
            "platform": platform,
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "json": body,
            "at": time.time(),
        }
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        with state.lock:
            state.requests.append(record)
            if state.fail_count > 0:
                state.fail_count -= 1
                status = state.fail_status
                return JSONResponse(_error_body(platform, status, state.fail_message), status_code=status)
            if key and key in state.by_key:
                status, answer = state.by_key[key]
                return JSONResponse(answer, status_code=status)
            status, answer = make(body if isinstance(body, dict) else {}, state.next_number())
            if key and status < 400:
                state.by_key[key] = (status, answer)
        return JSONResponse(answer, status_code=status)

    # --- X ---------------------------------------------------------------------------

    @app.post("/2/tweets")
    async def x_post(request: Request) -> JSONResponse:
        def make(body: dict[str, Any], n: int) -> tuple[int, dict[str, Any]]:
            tweet_id = str(1_800_000_000_000_000_000 + n)
            data = {"id": tweet_id, "text": body.get("text", ""), "edit_history_tweet_ids": [tweet_id]}
            return 201, {"data": data}

        return await handle(request, "x", make)

    @app.post("/2/dm_conversations/with/{participant_id}/messages")
    async def x_dm(request: Request, participant_id: str) -> JSONResponse:
        def make(body: dict[str, Any], n: int) -> tuple[int, dict[str, Any]]:
            return 201, {
                "data": {
                    "dm_conversation_id": f"{participant_id}-{9_000 + n}",
                    "dm_event_id": str(1_900_000_000_000_000_000 + n),
                }
            }

        return await handle(request, "x", make)

    # --- YouTube: registered before the Graph routes, which would also match its path ---

    @app.post("/youtube/v3/comments")
    async def youtube_comment(request: Request) -> JSONResponse:
        def make(body: dict[str, Any], n: int) -> tuple[int, dict[str, Any]]:
            snippet = dict(body.get("snippet") or {})
            parent = str(snippet.get("parentId", ""))
            snippet.setdefault("textDisplay", snippet.get("textOriginal", ""))
            comment_id = f"{parent}.FAKE{n:06d}"
            return 200, {"kind": "youtube#comment", "etag": f"fake{n}", "id": comment_id, "snippet": snippet}

        return await handle(request, "youtube", make)

    # --- Graph API: Messenger / Instagram DMs and WhatsApp ---------------------------------

    @app.post("/{version}/{node}/messages")
    async def graph_messages(request: Request, version: str, node: str) -> JSONResponse:
        whatsapp = node != "me"

        def make(body: dict[str, Any], n: int) -> tuple[int, dict[str, Any]]:
            if whatsapp:
                to = str(body.get("to", ""))
                return 200, {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to}],
                    "messages": [{"id": f"wamid.FAKE{n:012d}", "message_status": "accepted"}],
                }
            recipient = str((body.get("recipient") or {}).get("id", ""))
            return 200, {"recipient_id": recipient, "message_id": f"m_FAKE{n:012d}"}

        return await handle(request, "whatsapp" if whatsapp else "messenger", make)

    @app.post("/{version}/{object_id}/comments")
    async def graph_comments(request: Request, version: str, object_id: str) -> JSONResponse:
        def make(body: dict[str, Any], n: int) -> tuple[int, dict[str, Any]]:
            post = object_id.split("_")[0]
            return 200, {"id": f"{post}_{7_000_000 + n}"}

        return await handle(request, "facebook", make)

    @app.post("/{version}/{comment_id}/replies")
    async def instagram_replies(request: Request, version: str, comment_id: str) -> JSONResponse:
        def make(body: dict[str, Any], n: int) -> tuple[int, dict[str, Any]]:
            return 200, {"id": str(17_900_000_000_000_000 + n)}

        return await handle(request, "instagram", make)

    # --- Telegram ----------------------------------------------------------------------

    @app.post("/bot{token}/sendMessage")
    async def telegram_send(request: Request, token: str) -> JSONResponse:
        def make(body: dict[str, Any], n: int) -> tuple[int, dict[str, Any]]:
            chat_id = body.get("chat_id")
            try:
                chat: Any = int(chat_id)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                chat = chat_id
            return 200, {
                "ok": True,
                "result": {
                    "message_id": 5000 + n,
                    "from": {"id": 1, "is_bot": True, "first_name": "Fake bot"},
                    "chat": {"id": chat, "type": "private"},
                    "date": int(time.time()),
                    "text": body.get("text", ""),
                },
            }

        return await handle(request, "telegram", make)

    # --- control -----------------------------------------------------------------------

    @app.get("/_sent")
    async def sent() -> list[dict[str, Any]]:
        with state.lock:
            return list(state.requests)

    @app.post("/_fail")
    async def fail(request: Request) -> dict[str, Any]:
        body = await request.json()
        with state.lock:
            state.fail_count = int(body.get("count", 1))
            state.fail_status = int(body.get("status", 503))
            state.fail_message = str(body.get("message") or state.fail_message)
        return {"ok": True, "count": state.fail_count, "status": state.fail_status}

    @app.post("/_reset")
    async def reset() -> dict[str, bool]:
        state.reset()
        return {"ok": True}

    return app


app = create_app()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningFakeServer:
    base_url: str
    state: FakeState

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.requests)

    def fail_next(self, count: int, status: int = 503, message: str = "") -> None:
        with self.state.lock:
            self.state.fail_count = count
            self.state.fail_status = status
            if message:
                self.state.fail_message = message

    def reset(self) -> None:
        self.state.reset()


@contextmanager
def running_fake_server(port: int | None = None) -> Iterator[RunningFakeServer]:
    """Serve a fresh fake on 127.0.0.1 in a background thread for the ``with`` block."""
    state = FakeState()
    port = port or free_port()
    config = uvicorn.Config(
        create_app(state), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"fake-platforms-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"fake platform server did not start on port {port}")
        time.sleep(0.02)
    try:
        yield RunningFakeServer(base_url=f"http://127.0.0.1:{port}", state=state)
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def main() -> None:
    """``python -m socialdesk.platforms.fake_server [port]``: serve on 127.0.0.1 (free port by default)."""
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else free_port()
    print(f"fake platforms on http://127.0.0.1:{port}  (GET /_sent, POST /_fail, POST /_reset)", flush=True)
    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
