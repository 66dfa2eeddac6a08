"""A few seconds of memory for the desk's expensive aggregates (view counts, the board),
dropped as soon as anything they count changes.

Every open inbox re-fetches its counts after each live event; on a busy desk that would be
the same full-table counts many times a second. An entry is served from here only while it is
younger than ``seconds`` and was computed after the last change the live broker announced:
every writer that changes a conversation, a message or an agent publishes a live event
(``socialdesk.live``; with several processes the Redis broker relays them to each), and this
module listens to them in a background thread. Writers publish just before they commit, so an
entry counts as fresh only if its computation started ``GRACE`` seconds after the event.
The TTL is a backstop for changes nobody announces. The conversation list is never cached.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_lock = threading.Lock()
_store: dict[Any, tuple[float, Any]] = {}
MAX_ENTRIES = 256
# How long after an announced change a writer may still be committing it.
GRACE = 0.25
_valid_after = float("-inf")  # monotonic time: entries computed before it are stale
_listener: threading.Thread | None = None
_subscribed = threading.Event()
log = logging.getLogger(__name__)


def remembered(key: Any, seconds: float, compute: Callable[[], T]) -> T:
    """``compute()``, or its result from the last ``seconds`` if nothing changed since (keys
    should name the database)."""
    _ensure_listener()
    start = time.monotonic()
    with _lock:
        hit = _store.get(key)
        if hit is not None and start - hit[0] < seconds and hit[0] >= _valid_after:
            return hit[1]
    value = compute()
    with _lock:
        if len(_store) >= MAX_ENTRIES:
            _store.clear()
        _store[key] = (start, value)
    return value


def invalidate(at: float | None = None) -> None:
    """Something changed at monotonic time ``at`` (default now): drop what was computed before
    it had surely been committed."""
    global _valid_after
    with _lock:
        _valid_after = max(_valid_after, (time.monotonic() if at is None else at) + GRACE)


def forget() -> None:
    with _lock:
        _store.clear()


def _ensure_listener() -> None:
    global _listener
    if _listener is not None and _listener.is_alive():
        return
    with _lock:
        if _listener is not None and _listener.is_alive():
            return
        _subscribed.clear()
        _listener = threading.Thread(target=_listen, name="desk-cache-invalidation", daemon=True)
        _listener.start()
    # Nothing may be remembered before the listener hears changes.
    _subscribed.wait(timeout=5.0)


def _listen() -> None:
    asyncio.run(_follow_broker())


async def _follow_broker() -> None:
    from socialdesk.live import get_broker

    while True:
        broker = get_broker()
        subscription = broker.subscribe()
        # One pending read, never cancelled by the timeout (that would end the subscription).
        pending: asyncio.Future[Any] | None = None
        try:
            while get_broker() is broker:
                if pending is None:
                    pending = asyncio.ensure_future(anext(subscription))
                    await asyncio.sleep(0)  # the read starts: the broker now has this subscriber
                    _subscribed.set()
                done, _ = await asyncio.wait({pending}, timeout=1.0)
                if done:  # otherwise look again whether the broker was replaced (tests do that)
                    pending.result()
                    pending = None
                    invalidate()
        except Exception:  # pragma: no cover - keep invalidating whatever happens to one broker
            log.exception("desk cache: live event subscription failed; retrying")
            await asyncio.sleep(1.0)
        finally:
            if pending is not None:
                pending.cancel()
        invalidate()
