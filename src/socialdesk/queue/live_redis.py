"""Live updates across processes: events go through Redis pub/sub to every web process.

A worker publishes; each web process runs one subscriber thread that hands every event to its
own local subscribers (``deliver_local``). Pub/sub is fire-and-forget like the local broker: an
event published while a web process is reconnecting is missed, and the page re-fetches on its
next update.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator

import redis

from socialdesk.live import LiveEvent, LocalBroker

log = logging.getLogger(__name__)

CHANNEL = "socialdesk:live"


class RedisBroker(LocalBroker):
    def __init__(self, url: str, channel: str = CHANNEL, max_backlog: int = 1000) -> None:
        super().__init__(max_backlog)
        self.channel = channel
        self.redis = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2
        )
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._start_lock = threading.Lock()

    def publish(self, event: LiveEvent) -> None:
        try:
            self.redis.publish(self.channel, event.to_json())
        except redis.RedisError as exc:
            # Still reach this process's own subscribers; other processes miss this one event.
            log.warning("live relay unavailable (%s); delivering locally only", exc)
            self.deliver_local(event)

    async def subscribe(self) -> AsyncIterator[LiveEvent]:
        self.start()
        async for event in super().subscribe():
            yield event

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._relay, name="live-relay", daemon=True)
                self._thread.start()

    def wait_listening(self, timeout: float = 5.0) -> bool:
        return self._listening.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _relay(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self._listening.set()
                backoff = 0.2
                while not self._stop.is_set():
                    item = pubsub.get_message(timeout=0.5)
                    if item and item.get("type") == "message":
                        try:
                            self.deliver_local(LiveEvent.from_json(item["data"]))
                        except (ValueError, KeyError) as exc:
                            log.warning("ignored a malformed live event: %s", exc)
            except redis.RedisError as exc:
                self._listening.clear()
                log.warning("live relay lost Redis (%s); reconnecting in %.1fs", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(redis.RedisError):
                    pubsub.close()
        self._listening.clear()
