"""What the operations endpoints and commands do, independent of HTTP."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from socialdesk.auth.service import audit
from socialdesk.db.engine import get_engine
from socialdesk.live import get_broker
from socialdesk.ops import metrics
from socialdesk.queue import get_queue

log = logging.getLogger(__name__)


class OpsError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _redis_queue() -> Any:
    from socialdesk.queue.redis_streams import RedisStreamQueue

    queue = get_queue()
    if not isinstance(queue, RedisStreamQueue):
        raise OpsError(
            409, "the queue is in-process (SOCIALDESK_QUEUE_URL is not redis://); it has no dead letters"
        )
    return queue


def readiness() -> dict[str, dict[str, Any]]:
    checks: dict[str, dict[str, Any]] = {}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    from socialdesk.queue.redis_streams import RedisStreamQueue

    queue = get_queue()
    if isinstance(queue, RedisStreamQueue):
        try:
            queue.redis.ping()
            checks["redis"] = {"ok": True}
        except Exception as exc:
            checks["redis"] = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return checks


def metrics_text() -> tuple[bytes, str]:
    return metrics.render()


def queue_stats() -> dict[str, Any]:
    from socialdesk.queue.redis_streams import RedisStreamQueue

    queue = get_queue()
    if not isinstance(queue, RedisStreamQueue):
        return {"backend": "in-process"}
    try:
        return {"backend": "redis", **queue.stats().to_dict()}
    except Exception as exc:
        raise OpsError(503, f"redis is unavailable: {exc}") from exc


def dead_letters(limit: int = 100) -> list[dict[str, Any]]:
    queue = _redis_queue()
    try:
        return queue.dead_letters(limit)
    except Exception as exc:
        raise OpsError(503, f"redis is unavailable: {exc}") from exc


def replay(session: Session, actor: str, entry_ids: Sequence[str] | None) -> list[int]:
    import redis

    queue = _redis_queue()
    try:
        replayed = queue.replay(entry_ids)
    except KeyError as exc:
        raise OpsError(404, f"no dead letter with entry id {exc.args[0]!r}") from exc
    except redis.ResponseError as exc:
        raise OpsError(400, f"bad entry id: {exc}") from exc
    except redis.RedisError as exc:
        raise OpsError(503, f"redis is unavailable: {exc}") from exc
    audit(session, actor, "queue.replay", "dead-letters", message_ids=replayed)
    return replayed


def start_live_relay() -> None:
    broker = get_broker()
    if hasattr(broker, "start"):
        broker.start()
