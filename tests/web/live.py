"""A running desk for browser tests: temporary SQLite, the app under uvicorn in a thread,
the local fake platform server, and the outbox sender loop."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from socialdesk.config import get_settings
from socialdesk.db.engine import get_engine, reset_engine_cache
from socialdesk.db.models import Base
from socialdesk.platforms.base import AccountCredentials
from socialdesk.platforms.fake_server import RunningFakeServer, running_fake_server
from socialdesk.platforms.registry import sign
from socialdesk.queue import set_queue
from tests.services import free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BRAND_X_ID = "2244994945"


@dataclass
class Desk:
    base_url: str
    fake: RunningFakeServer

    def post_webhook(
        self, platform: str, slug: str, payload: dict[str, Any], secret: str = "app-secret"
    ) -> None:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            **sign(platform, body, AccountCredentials(app_secret=secret)),
        }
        response = httpx.post(f"{self.base_url}/webhooks/{platform}/{slug}", content=body, headers=headers)
        assert response.status_code == 200, response.text


def x_customer_post(tweet_id: str, user_id: str, screen_name: str, name: str, text: str) -> dict[str, Any]:
    """The documented Account Activity ``tweet_create_events`` payload, re-addressed: a customer
    replying to the brand's account."""
    payload = json.loads((FIXTURES / "x" / "account_activity_tweet_create_events.json").read_text())
    tweet = copy.deepcopy(payload["tweet_create_events"][0])
    tweet.update(
        id=int(tweet_id),
        id_str=tweet_id,
        full_text=text,
        text=text,
        created_at=datetime.now(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
        display_text_range=[0, len(text)],
        entities={"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
    )
    tweet.pop("extended_tweet", None)
    tweet["user"] = {
        **tweet["user"],
        "id": int(user_id),
        "id_str": user_id,
        "screen_name": screen_name,
        "name": name,
        "followers_count": 120,
    }
    tweet["in_reply_to_user_id"] = int(BRAND_X_ID)
    tweet["in_reply_to_user_id_str"] = BRAND_X_ID
    tweet["in_reply_to_status_id"] = None
    tweet["in_reply_to_status_id_str"] = None
    return {"for_user_id": BRAND_X_ID, "tweet_create_events": [tweet]}


def require_chromium() -> None:
    from tests.services import missing

    if not Path(CHROMIUM).exists():
        missing("Chromium at /usr/bin/chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("Playwright for Python")


@contextmanager
def serve(app: Any) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"desk-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the desk did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@contextmanager
def running_desk(tmp: Path) -> Iterator[Desk]:
    """Environment, schema, fake platforms, the app and the outbox sender, torn down after."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOCIALDESK_DATABASE_URL", f"sqlite:///{tmp / 'desk.db'}")
        mp.setenv("SOCIALDESK_DATA_DIR", str(tmp / "data"))
        mp.setenv("SOCIALDESK_SECRET_KEY", "browser-test-secret-key")
        get_settings.cache_clear()
        reset_engine_cache()
        set_queue(None)
        Base.metadata.create_all(get_engine())
        stop = threading.Event()
        try:
            with running_fake_server() as fake:
                from socialdesk.outbox.sender import run_forever
                from socialdesk.web.app import create_app

                sender = threading.Thread(
                    target=run_forever, kwargs={"interval": 0.2, "stop": stop}, daemon=True
                )
                sender.start()
                with serve(create_app()) as base_url:
                    yield Desk(base_url, fake)
                stop.set()
                sender.join(timeout=5)
        finally:
            stop.set()
            set_queue(None)
            reset_engine_cache()
            get_settings.cache_clear()
