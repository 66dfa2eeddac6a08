"""A few seconds of memory for the desk's expensive aggregates (view counts, the board).

Every open inbox re-fetches its counts after each live event; on a busy desk that would be
the same full-table counts many times a second. Within ``seconds`` they are served from
here; the conversation list itself is never cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_lock = threading.Lock()
_store: dict[Any, tuple[float, Any]] = {}
MAX_ENTRIES = 256


def remembered(key: Any, seconds: float, compute: Callable[[], T]) -> T:
    """``compute()``, or its result from the last ``seconds`` (keys should name the database)."""
    now = time.monotonic()
    with _lock:
        hit = _store.get(key)
        if hit is not None and now - hit[0] < seconds:
            return hit[1]
    value = compute()
    with _lock:
        if len(_store) >= MAX_ENTRIES:
            _store.clear()
        _store[key] = (now, value)
    return value


def forget() -> None:
    with _lock:
        _store.clear()
