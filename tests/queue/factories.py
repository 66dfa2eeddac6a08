"""Builders for queue and scale tests: stored messages, Telegram webhook deliveries, queue settings."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

from sqlalchemy.orm import Session

from socialdesk.brands.models import SocialAccount
from socialdesk.ingest.service import Ingestor, IngestReport
from socialdesk.queue.redis_streams import QueueSettings, RedisStreamQueue
from tests import factories

_updates = itertools.count(1)
TELEGRAM_SECRET = "tg-secret-token"


def queue_settings(redis_url: str, **overrides: Any) -> QueueSettings:
    """A stream of its own per test, and timeouts short enough for tests."""
    values: dict[str, Any] = {
        "url": redis_url,
        "stream": f"test:{uuid.uuid4().hex[:10]}",
        "block_ms": 100,
        "claim_idle_ms": 500,
        "max_tries": 3,
        "sweep_grace_s": 0.5,
        "sweep_interval_s": 0.3,
        "trim_interval_s": 0.2,
        "max_backoff_s": 0.5,
    }
    values.update(overrides)
    return QueueSettings(**values)


def make_queue(redis_url: str, **overrides: Any) -> RedisStreamQueue:
    queue = RedisStreamQueue(redis_url, queue_settings(redis_url, **overrides))
    queue.ensure_group()
    return queue


def store_messages(
    session: Session, account: SocialAccount, texts: list[str], prefix: str = "m"
) -> list[int]:
    """Store one conversation per text (a different customer each), committed; their ids."""
    report = IngestReport()
    items = [
        factories.inbound(f"{prefix}-{i}-{uuid.uuid4().hex[:6]}", author_id=f"{prefix}u{i}", text=text)
        for i, text in enumerate(texts)
    ]
    ingestor = Ingestor(session)
    ingestor.prime(account, items)
    for item in items:
        ingestor.store(account, item, report)
    ingestor.finish(report)
    session.commit()
    return list(report.message_ids)


def telegram_account(session: Session, slug: str = "tg") -> SocialAccount:
    account = factories.account(session, "telegram", slug, verify_token=TELEGRAM_SECRET, external_id="4242")
    session.commit()
    return account


def telegram_update(text: str, chat_id: int = 1111111) -> tuple[bytes, dict[str, str]]:
    """A private Telegram message as the Bot API delivers it (fixtures/platforms/telegram), numbered anew."""
    n = next(_updates) + uuid.uuid4().int % 10**6 * 1000
    body = {
        "update_id": n,
        "message": {
            "date": 1763900000 + n % 1000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Test", "username": f"user{chat_id}"},
            "message_id": n,
            "from": {"id": chat_id, "first_name": "Test", "username": f"user{chat_id}"},
            "text": text,
        },
    }
    return json.dumps(body).encode(), {
        "content-type": "application/json",
        "x-telegram-bot-api-secret-token": TELEGRAM_SECRET,
    }
