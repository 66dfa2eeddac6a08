"""One small interface, two backends. Ingestion calls ``enqueue`` after its commit."""

from __future__ import annotations

import logging
import queue as stdlib_queue
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

log = logging.getLogger(__name__)


class MessageQueue(Protocol):
    def enqueue(self, message_ids: Iterable[int]) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until everything enqueued so far is processed (the CLI and tests use it)."""
        ...


Handler = Callable[[list[int]], None]


class InProcessQueue:
    """A background thread that processes message ids in small batches, in this process."""

    def __init__(self, handler: Handler | None = None, batch_size: int = 50) -> None:
        self._handler = handler
        self._batch_size = batch_size
        self._queue: stdlib_queue.Queue[int | None] = stdlib_queue.Queue()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._pending = 0
        self._stopping = False

    def _handle(self, ids: list[int]) -> None:
        if self._handler is None:
            from socialdesk.worker import process_batch

            process_batch(ids)
        else:
            self._handler(ids)

    def enqueue(self, message_ids: Iterable[int]) -> None:
        ids = list(message_ids)
        if not ids:
            return
        with self._idle:
            self._pending += len(ids)
        for message_id in ids:
            self._queue.put(message_id)
        self.start()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="socialdesk-worker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish the batch in hand and stop; what is still queued stays stored unprocessed and
        is picked up by ``recover`` at the next start."""
        if self._thread is not None and self._thread.is_alive():
            self._stopping = True
            self._queue.put(None)
            self._thread.join(timeout=30)
        self._thread = None
        self._stopping = False

    def recover(self) -> int:
        """Enqueue stored messages that were never processed (the process stopped first)."""
        from sqlalchemy import select

        from socialdesk.conversations.models import Message
        from socialdesk.db.engine import session_scope

        with session_scope() as session:
            unprocessed = select(Message.id).where(Message.processed_at.is_(None)).order_by(Message.id)
            ids = list(session.scalars(unprocessed))
        self.enqueue(ids)
        return len(ids)

    def drain(self, timeout: float = 30.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def _run(self) -> None:
        while not self._stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._batch_size:
                try:
                    item = self._queue.get_nowait()
                except stdlib_queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                self._handle(batch)
            except Exception:  # the worker thread must survive a bad batch
                log.exception("processing batch %s failed", batch)
            finally:
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()


_queue: MessageQueue | None = None


def get_queue() -> MessageQueue:
    global _queue
    if _queue is None:
        from socialdesk.config import get_settings

        url = get_settings().queue_url
        if url.startswith(("redis://", "rediss://", "unix://")):
            from socialdesk.queue.redis_streams import RedisStreamQueue

            _queue = RedisStreamQueue(url)
        else:
            _queue = InProcessQueue()
    return _queue


def set_queue(queue: MessageQueue | None) -> None:
    global _queue
    if _queue is not None and _queue is not queue:
        _queue.stop()
    _queue = queue
