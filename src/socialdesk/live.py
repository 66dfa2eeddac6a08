"""Live updates for the browser (SSE): conversation and message events, fanned out.

In one process the broker is a set of asyncio queues. With several web processes, the
scale-out backend relays the same events through Redis so every subscriber sees them.
Publishing never blocks the caller: a slow subscriber drops events, and the page
re-fetches on its next update.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class LiveEvent:
    kind: str  # e.g. "message.created", "conversation.updated", "alert.created"
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "data": self.data}, default=str)

    @classmethod
    def from_json(cls, raw: str | bytes) -> LiveEvent:
        obj = json.loads(raw)
        return cls(kind=obj["kind"], data=obj.get("data", {}))


class LocalBroker:
    def __init__(self, max_backlog: int = 1000) -> None:
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[LiveEvent]]] = set()
        self._lock = threading.Lock()
        self._max_backlog = max_backlog

    def publish(self, event: LiveEvent) -> None:
        """Deliver to every subscriber; safe to call from any thread."""
        self.deliver_local(event)

    def deliver_local(self, event: LiveEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            loop.call_soon_threadsafe(_offer, queue, event)

    async def subscribe(self) -> AsyncIterator[LiveEvent]:
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(self._max_backlog)
        entry = (asyncio.get_running_loop(), queue)
        with self._lock:
            self._subscribers.add(entry)
        try:
            while True:
                yield await queue.get()
        finally:
            with self._lock:
                self._subscribers.discard(entry)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


def _offer(queue: asyncio.Queue[LiveEvent], event: LiveEvent) -> None:
    if not queue.full():
        queue.put_nowait(event)


_broker: LocalBroker | None = None


def get_broker() -> LocalBroker:
    global _broker
    if _broker is None:
        from socialdesk.config import get_settings

        url = get_settings().queue_url
        if url.startswith(("redis://", "rediss://", "unix://")):
            # Several processes: relay through Redis so every web process sees every worker's events.
            from socialdesk.queue.live_redis import RedisBroker

            _broker = RedisBroker(url)
        else:
            _broker = LocalBroker()
    return _broker


def set_broker(broker: LocalBroker | None) -> None:
    global _broker
    if _broker is not None and _broker is not broker and hasattr(_broker, "stop"):
        _broker.stop()
    _broker = broker


def publish(kind: str, **data: Any) -> None:
    get_broker().publish(LiveEvent(kind, data))
