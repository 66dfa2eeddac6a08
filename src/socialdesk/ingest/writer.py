"""Group commit for webhooks: one writer thread stores every pending delivery in one transaction.

A request verifies and parses its delivery, hands it to the writer and waits. The writer takes
everything that arrived since its last batch, stores it in ONE transaction (the bulk path: one
executemany per table), commits, enqueues the new messages for the pipeline, and only then
answers each waiting request, so a 200 still means "stored durably".

A batch costs about a dozen statements whatever its size, so under load the writer starts at
most one batch every ``interval`` seconds and lets deliveries gather in between; when traffic
is light (the last batch began longer ago than that) a delivery is written at once.

A batch that fails is not allowed to take good deliveries down with it: the writer stores its
deliveries again one transaction each, and only the bad one gets the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from socialdesk.db.engine import get_sessionmaker
from socialdesk.ingest.webhooks import Delivery, WebhookOutcome, store_deliveries
from socialdesk.queue import get_queue

log = logging.getLogger(__name__)

# Two writers storing the same new thread or customer at once: the loser's unique constraint
# fails, and on a retry it finds what the winner stored.
ATTEMPTS = 3
SWITCH_INTERVAL_S = 0.0005


@dataclass(slots=True)
class _Waiter:
    """Where a delivery's outcome goes: an asyncio future on its loop, or a thread future."""

    delivery: Delivery
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[WebhookOutcome] | Future[WebhookOutcome]


class BatchWriter:
    def __init__(self, interval: float = 0.01, max_batch: int = 1000) -> None:
        self.interval = interval
        self.max_batch = max_batch
        self._pending: deque[_Waiter] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last_start = 0.0
        self._closing = False
        # Batches committed and the deliveries in them (tests and the benchmark read them).
        self.batches = 0
        self.written = 0

    async def store(self, delivery: Delivery) -> WebhookOutcome:
        """Store a delivery with whatever else is pending; returns after the commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WebhookOutcome] = loop.create_future()
        self._put(_Waiter(delivery, loop, future))
        return await future

    def submit(self, delivery: Delivery) -> Future[WebhookOutcome]:
        """The same for a caller without an event loop; the future resolves after the commit."""
        future: Future[WebhookOutcome] = Future()
        self._put(_Waiter(delivery, None, future))
        return future

    def _put(self, waiter: _Waiter) -> None:
        with self._wake:
            self._pending.append(waiter)
            if self._thread is None or not self._thread.is_alive():
                # The writer waits on the database a dozen times a batch and must get the
                # interpreter back at once each time, not after a request handler's full
                # 5 ms switch interval (with several batches' worth of requests waiting on it).
                sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
                self._thread = threading.Thread(
                    target=self._run, name="socialdesk-ingest-writer", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def close(self, timeout: float = 30.0) -> None:
        """Write what is pending, then stop the thread (a later delivery starts it again)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._wake:
            self._closing = False

    def _take(self) -> list[_Waiter] | None:
        with self._wake:
            while not self._pending:
                if self._closing:
                    self._thread = None
                    return None
                self._wake.wait()
            # Busy: let deliveries gather until one interval after the last batch began.
            while len(self._pending) < self.max_batch:
                left = self._last_start + self.interval - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(left)
            count = min(len(self._pending), self.max_batch)
            self._last_start = time.monotonic()
            return [self._pending.popleft() for _ in range(count)]

    def _run(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._write(batch)
            except BaseException as exc:  # the writer thread must outlive any batch
                log.exception("ingest writer failed on a batch of %d", len(batch))
                _settle([(w, None, exc) for w in batch])

    def _write(self, batch: list[_Waiter]) -> None:
        try:
            outcomes = _commit([w.delivery for w in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle([(batch[0], None, exc)])
                return
            log.warning("a batch of %d deliveries failed (%s); storing them one by one", len(batch), exc)
            for waiter in batch:
                try:
                    outcome = _commit([waiter.delivery])[0]
                except Exception as one_exc:
                    log.exception("storing a %s delivery failed", waiter.delivery.account.platform)
                    _settle([(waiter, None, one_exc)])
                    continue
                self._answer([(waiter, outcome)])
            return
        self._answer(list(zip(batch, outcomes, strict=True)))

    def _answer(self, done: list[tuple[_Waiter, WebhookOutcome]]) -> None:
        ids = [i for _, outcome in done for i in outcome.report.message_ids]
        try:
            get_queue().enqueue(ids)
        except Exception as exc:  # stored, not queued: the caller learns it (503 from the queue)
            _settle([(w, None, exc) for w, _ in done])
            return
        self.batches += 1
        self.written += len(done)
        _settle([(w, outcome, None) for w, outcome in done])


def _commit(deliveries: list[Delivery]) -> list[WebhookOutcome]:
    for attempt in range(ATTEMPTS):
        session: Session = get_sessionmaker()()
        try:
            outcomes = store_deliveries(session, deliveries)
            session.commit()
            return outcomes
        except IntegrityError:
            session.rollback()
            if attempt == ATTEMPTS - 1:
                raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    raise AssertionError("unreachable")


Result = tuple[_Waiter, WebhookOutcome | None, BaseException | None]


def _settle(results: list[Result]) -> None:
    """Resolve each waiter: thread futures here, asyncio ones with one wake-up per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Result]] = {}
    for result in results:
        loop = result[0].loop
        if loop is None:
            _resolve(result)
        else:
            by_loop.setdefault(loop, []).append(result)
    for loop, group in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_resolve_all, group)


def _resolve_all(results: list[Result]) -> None:
    for result in results:
        _resolve(result)


def _resolve(result: Result) -> None:
    waiter, outcome, exc = result
    future = waiter.future
    if future.done():  # the request was cancelled (client gone); the delivery is stored anyway
        return
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(outcome)  # type: ignore[arg-type]
    except InvalidStateError:  # cancelled from another thread just now
        pass


_writer: BatchWriter | None = None
_writer_lock = threading.Lock()


def get_writer() -> BatchWriter:
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = BatchWriter()
        return _writer
