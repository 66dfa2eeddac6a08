"""Redis Streams backend: ingestion appends message ids, workers read them with a consumer group.

Delivery is at-least-once; every pipeline step is idempotent, so a redelivery changes nothing.

Order of commit and XADD: ingestion commits the message first and appends its id after. The
other order would let a worker read an id whose row is not committed yet (and drop it). If the
XADD fails (Redis down), the webhook answers 503 so the platform retries; the retry is a
duplicate the Ingestor ignores, so the committed message is picked up by the *sweeper*
instead: one worker at a time (a Redis lock) enqueues stored messages that are still
unprocessed after a grace period and are not *in flight*. Every enqueue adds the id to an
in-flight set in the same pipeline as its XADD, and the acknowledgement after the commit removes
it, so the sweeper does not duplicate a backlog that is merely waiting (or a message waiting for
its retry). A rare duplicate from a race is harmless: see ``process_one``.

A worker acknowledges an entry only after the message's transaction committed. Entries of a
worker that died stay pending; after ``claim_idle_ms`` another worker takes them over with
XAUTOCLAIM. A message that fails ``max_tries`` times (errors, or deliveries that never came
back) moves to the dead-letter stream with its error, and an admin can replay it. A database
outage is not the message's fault: the worker backs off and retries the same entry, keeping
its claim fresh, and never acknowledges it until it committed.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import joinedload
from starlette.exceptions import HTTPException

from socialdesk.ops import metrics

log = logging.getLogger(__name__)


class QueueSettings(BaseSettings):
    """Tuning for the Redis backend (env ``SOCIALDESK_QUEUE_*``; ``SOCIALDESK_QUEUE_URL`` selects it)."""

    model_config = SettingsConfigDict(env_prefix="SOCIALDESK_QUEUE_", env_file=".env", extra="ignore")

    url: str = ""
    stream: str = "socialdesk:messages"
    group: str = "socialdesk-workers"
    batch_size: int = 10
    block_ms: int = 1000
    # A pending entry idle this long belongs to a worker that died; another one takes it.
    claim_idle_ms: int = 30_000
    # Failures (or lost deliveries) before a message goes to the dead-letter stream.
    max_tries: int = 5
    # The sweeper re-enqueues unprocessed messages this much older than the stream's oldest entry.
    sweep_grace_s: float = 30.0
    sweep_interval_s: float = 10.0
    trim_interval_s: float = 2.0
    # Longest pause between retries while the database is unavailable.
    max_backoff_s: float = 10.0


class QueueUnavailable(HTTPException):
    """Redis refused the hand-off. An HTTPException so a webhook answers 503 and the platform retries."""

    def __init__(self, detail: str) -> None:
        super().__init__(503, detail)


@dataclass(slots=True)
class QueueStats:
    length: int  # entries in the stream (unacknowledged ones and not yet trimmed)
    lag: int  # entries no worker has read yet
    pending: int  # entries read but not acknowledged
    oldest_age_s: float  # age of the oldest entry not yet acknowledged; 0 when none
    consumers: int
    dead_letters: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "length": self.length,
            "lag": self.lag,
            "pending": self.pending,
            "oldest_age_s": round(self.oldest_age_s, 3),
            "consumers": self.consumers,
            "dead_letters": self.dead_letters,
        }


def _ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def _successor(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def is_transient(exc: BaseException) -> bool:
    """Errors of the database or the network, not of the message: retry the same entry later."""
    if isinstance(exc, DisconnectionError | PoolTimeout | redis.ConnectionError | redis.TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        name = type(exc.orig).__name__ if exc.orig is not None else ""
        # psycopg: OperationalError (server gone, cannot connect); sqlite: "database is locked".
        return name in {"OperationalError", "InterfaceError", "AdminShutdown", "CannotConnectNow"}
    return False


class RedisStreamQueue:
    """The ``MessageQueue`` interface over one Redis stream and its consumer group."""

    def __init__(self, url: str, settings: QueueSettings | None = None) -> None:
        self.settings = settings or QueueSettings(url=url)
        self.url = url
        self.redis: redis.Redis = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2, health_check_interval=15
        )
        self.stream = self.settings.stream
        self.group = self.settings.group
        self.dead_stream = f"{self.stream}:dead"
        self.dead_ids = f"{self.stream}:dead-ids"
        # Message ids enqueued and not yet acknowledged (done or dead-lettered): the sweeper's guide.
        self.inflight = f"{self.stream}:inflight"
        self.sweep_lock = f"{self.stream}:sweep-lock"
        self._workers: list[tuple[StreamWorker, threading.Thread]] = []

    # -- the MessageQueue interface ------------------------------------------------------------
    def enqueue(self, message_ids: Iterable[int]) -> None:
        ids = list(message_ids)
        if not ids:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            for message_id in ids:
                pipe.xadd(self.stream, {"m": str(message_id)})
            pipe.sadd(self.inflight, *[str(i) for i in ids])
            pipe.execute()
        except redis.RedisError as exc:
            log.error("could not enqueue %d messages: %s", len(ids), exc)
            raise QueueUnavailable(
                f"the message queue is unavailable ({type(exc).__name__}); the message is stored, retry later"
            ) from exc
        metrics.INGESTED.inc(len(ids))

    def start(self) -> None:
        """Create the stream and group if needed; a web process does not consume."""
        try:
            self.ensure_group()
        except redis.RedisError as exc:  # readiness reports it; the web process still serves
            log.warning("redis is not reachable at start: %s", exc)

    def stop(self) -> None:
        for worker, _ in self._workers:
            worker.request_stop()
        for _, thread in self._workers:
            thread.join(timeout=30)
        self._workers.clear()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every entry is acknowledged; False at once when no worker is consuming."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats.lag == 0 and stats.pending == 0:
                return True
            nobody = stats.consumers == 0 and not any(t.is_alive() for _, t in self._workers)
            if time.monotonic() >= deadline or nobody:
                return False
            time.sleep(0.1)

    # -- operations --------------------------------------------------------------------------
    def ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run_worker_thread(self, consumer: str | None = None) -> StreamWorker:
        """A consumer in a background thread of this process (tests, and the embedded use of Redis)."""
        worker = StreamWorker(self, consumer)
        thread = threading.Thread(target=worker.run, name=f"stream-{worker.consumer}", daemon=True)
        self._workers.append((worker, thread))
        thread.start()
        return worker

    def stats(self) -> QueueStats:
        try:
            groups = self.redis.xinfo_groups(self.stream)
        except redis.ResponseError:  # no stream yet
            groups = []
        group = next((g for g in groups if g["name"] == self.group), None)
        length = self.redis.xlen(self.stream)
        dead = self.redis.xlen(self.dead_stream)
        if group is None:
            oldest = self.redis.xrange(self.stream, count=1)
            age = self._age(oldest[0][0]) if oldest else 0.0
            return QueueStats(length, length, 0, age, 0, dead)
        pending = int(group["pending"])
        lag = group.get("lag")
        if lag is None:  # Redis cannot tell after a trim in some cases: count what follows
            lag = len(
                self.redis.xrange(self.stream, min=_successor(group["last-delivered-id"]), count=100000)
            )
        oldest_id = self._oldest_unacked(group)
        age = self._age(oldest_id) if oldest_id else 0.0
        return QueueStats(length, int(lag), pending, age, int(group["consumers"]), dead)

    def _age(self, entry_id: str) -> float:
        seconds, micros = self.redis.time()
        return max(0.0, seconds + micros / 1e6 - _ms(entry_id) / 1000)

    def _oldest_unacked(self, group: dict[str, Any]) -> str | None:
        """The oldest entry not yet acknowledged: the first pending one, else the first unread one."""
        if int(group["pending"]):
            summary = self.redis.xpending(self.stream, self.group)
            if summary and summary.get("min"):
                return summary["min"]
        after = self.redis.xrange(self.stream, min=_successor(group["last-delivered-id"]), count=1)
        return after[0][0] if after else None

    def trim(self) -> int:
        """Drop acknowledged entries: everything older than the oldest pending or unread one."""
        groups = [g for g in self.redis.xinfo_groups(self.stream) if g["name"] == self.group]
        if not groups:
            return 0
        # Read the delivery position before the pending list: an entry delivered in between
        # is then either below the first pending id or above the position, never trimmed.
        boundary = _successor(groups[0]["last-delivered-id"])
        summary = self.redis.xpending(self.stream, self.group)
        if summary and summary.get("min") and _key(summary["min"]) < _key(boundary):
            boundary = summary["min"]
        return int(self.redis.xtrim(self.stream, minid=boundary, approximate=False))

    def sweep(self, pages: int = 20, page_size: int = 1000) -> int:
        """Enqueue stored messages whose enqueue was lost (see the module docstring)."""
        from socialdesk.conversations.models import Message
        from socialdesk.db.base import utcnow
        from socialdesk.db.engine import session_scope

        if not self.redis.set(self.sweep_lock, "1", nx=True, px=int(self.settings.sweep_interval_s * 1000)):
            return 0
        self._forget_departed_consumers()
        cutoff = utcnow() - timedelta(seconds=self.settings.sweep_grace_s)
        swept, after = 0, 0
        for _ in range(pages):  # a backlog in flight is skipped page by page, by id
            with session_scope() as session:
                ids = list(
                    session.scalars(
                        select(Message.id)
                        .where(
                            Message.processed_at.is_(None), Message.received_at < cutoff, Message.id > after
                        )
                        .order_by(Message.id)
                        .limit(page_size)
                    )
                )
            if not ids:
                break
            after = ids[-1]
            keys = [str(i) for i in ids]
            pipe = self.redis.pipeline(transaction=False)
            pipe.smismember(self.inflight, keys)
            pipe.smismember(self.dead_ids, keys)
            inflight, dead = pipe.execute()
            lost = [i for i, busy, gone in zip(ids, inflight, dead, strict=True) if not busy and not gone]
            if lost:
                log.warning("sweeper: %d stored messages were never enqueued; enqueueing them", len(lost))
                self.enqueue(lost)
                metrics.SWEPT.inc(len(lost))
                swept += len(lost)
        return swept

    def _forget_departed_consumers(self) -> None:
        """Drop consumers of killed workers once their entries were reclaimed, so `consumers` counts
        the living. A live consumer touches the group every ``block_ms``; an hour idle is gone."""
        limit_ms = max(3_600_000, 20 * self.settings.claim_idle_ms)
        for consumer in self.redis.xinfo_consumers(self.stream, self.group):
            if int(consumer["pending"]) == 0 and int(consumer["idle"]) > limit_ms:
                self.redis.xgroup_delconsumer(self.stream, self.group, consumer["name"])

    # -- dead letters ------------------------------------------------------------------------
    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        return [
            {"entry_id": entry_id, **_dead_fields(fields)}
            for entry_id, fields in self.redis.xrevrange(self.dead_stream, count=limit)
        ]

    def replay(self, entry_ids: Sequence[str] | None = None) -> list[int]:
        """Put dead-lettered messages back on the stream with a fresh try count; None means all."""
        if entry_ids is None:
            entries = self.redis.xrange(self.dead_stream)
        else:
            entries = []
            for entry_id in entry_ids:
                found = self.redis.xrange(self.dead_stream, min=entry_id, max=entry_id)
                if not found:
                    raise KeyError(entry_id)
                entries.extend(found)
        replayed = []
        for entry_id, fields in entries:
            pipe = self.redis.pipeline(transaction=True)
            pipe.xadd(self.stream, {"m": fields["m"]})
            pipe.sadd(self.inflight, fields["m"])
            pipe.xdel(self.dead_stream, entry_id)
            pipe.srem(self.dead_ids, fields["m"])
            pipe.execute()
            replayed.append(int(fields["m"]))
        return replayed


def _key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _dead_fields(fields: dict[str, str]) -> dict[str, Any]:
    return {
        "message_id": int(fields["m"]),
        "error": fields.get("error", ""),
        "tries": int(fields.get("tries", 0)),
        "at": fields.get("at", ""),
        "consumer": fields.get("consumer", ""),
    }


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident() % 100000}"


class StreamWorker:
    """One consumer: read, process each message in its own transaction, acknowledge after commit."""

    def __init__(self, queue: RedisStreamQueue, consumer: str | None = None) -> None:
        self.queue = queue
        self.redis = queue.redis
        self.settings = queue.settings
        self.consumer = consumer or default_consumer_name()
        self._stop = threading.Event()
        self._next_claim = 0.0
        self._next_trim = 0.0
        self._next_sweep = time.monotonic() + random.uniform(0, self.settings.sweep_interval_s)
        self.processed = 0

    def request_stop(self) -> None:
        """Finish the message in hand, give the rest of the batch back, then return from ``run``."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            try:
                self.queue.ensure_group()
                # Register before the first delivery (Redis creates consumers lazily), so
                # `consumers` counts idle workers too and `drain` knows somebody is there.
                self.redis.xgroup_createconsumer(self.queue.stream, self.queue.group, self.consumer)
                self.housekeeping()
                self.poll_once()
                backoff = 0.0
            except redis.RedisError as exc:
                backoff = min(self.settings.max_backoff_s, max(0.2, backoff * 2))
                log.warning("redis unavailable (%s); retrying in %.1fs", exc, backoff)
                self._stop.wait(backoff)
        try:
            # A stopped consumer with nothing pending leaves the group, so it is not counted.
            if not self.redis.xpending_range(
                self.queue.stream, self.queue.group, "-", "+", 1, consumername=self.consumer
            ):
                self.redis.xgroup_delconsumer(self.queue.stream, self.queue.group, self.consumer)
        except redis.RedisError:
            pass

    def housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self._next_claim:
            self._next_claim = now + max(0.2, self.settings.claim_idle_ms / 4000)
            self.reclaim()
        if now >= self._next_trim:
            self._next_trim = now + self.settings.trim_interval_s
            self.queue.trim()
        if now >= self._next_sweep:
            self._next_sweep = now + self.settings.sweep_interval_s
            try:
                self.queue.sweep()
            except Exception as exc:  # the database may be down; the next sweep tries again
                log.warning("sweep failed: %s", exc)

    def poll_once(self) -> int:
        answer = self.redis.xreadgroup(
            self.queue.group,
            self.consumer,
            {self.queue.stream: ">"},
            count=self.settings.batch_size,
            block=self.settings.block_ms,
        )
        entries = answer[0][1] if answer else []
        self.handle(entries)
        return len(entries)

    def reclaim(self) -> int:
        """Take over entries another worker left pending longer than ``claim_idle_ms``."""
        result = self.redis.xautoclaim(
            self.queue.stream,
            self.queue.group,
            self.consumer,
            min_idle_time=self.settings.claim_idle_ms,
            start_id="0-0",
            count=self.settings.batch_size,
        )
        claimed = [(entry_id, fields) for entry_id, fields in result[1] if fields]
        if not claimed:
            return 0
        log.info("reclaimed %d entries from a stalled worker", len(claimed))
        metrics.RECLAIMED.inc(len(claimed))
        deliveries = {
            p["message_id"]: int(p["times_delivered"])
            for p in self.redis.xpending_range(
                self.queue.stream,
                self.queue.group,
                claimed[0][0],
                claimed[-1][0],
                len(claimed) * 2 + 10,
                consumername=self.consumer,
            )
        }
        alive = []
        for entry_id, fields in claimed:
            # XAUTOCLAIM counts a delivery; those beyond the first were never acknowledged.
            tries = int(fields.get("a", 0)) + deliveries.get(entry_id, 1) - 1
            if tries >= self.settings.max_tries:
                self.dead_letter(
                    entry_id, fields, f"its worker stopped without acknowledging it {tries} times", tries
                )
            else:
                alive.append((entry_id, fields))
        self.handle(alive)
        return len(claimed)

    def handle(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        """Each message in its own transaction; the committed ones are acknowledged together
        (one Redis round trip per batch, not per message) after the last."""
        done: list[tuple[str, str]] = []  # (entry id, message id), committed, not yet acknowledged
        # A slow batch acknowledges as it goes, well before its entries look abandoned to others.
        ack_every = self.settings.claim_idle_ms / 4000
        last_ack = time.monotonic()
        for index, (entry_id, fields) in enumerate(entries):
            if self._stop.is_set():
                self.acknowledge(done)
                self.give_back(entries[index:])
                return
            if self.process_entry(entry_id, fields, entries[index + 1 :], done):
                done.append((entry_id, fields["m"]))
            if time.monotonic() - last_ack > ack_every:
                self.acknowledge(done)
                last_ack = time.monotonic()
        self.acknowledge(done)

    def acknowledge(self, done: list[tuple[str, str]]) -> None:
        """XACK entries whose transaction committed (never before), and clear them from in-flight."""
        if not done:
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.queue.stream, self.queue.group, *[entry_id for entry_id, _ in done])
        pipe.srem(self.queue.inflight, *[message_id for _, message_id in done])
        pipe.execute()
        self.processed += len(done)
        metrics.PROCESSED.inc(len(done))
        done.clear()

    def process_entry(
        self,
        entry_id: str,
        fields: dict[str, str],
        rest: list[tuple[str, dict[str, str]]],
        done: list[tuple[str, str]],
    ) -> bool:
        """Process one entry; True when its work is committed (or was already) and it may be acked."""
        message_id = int(fields["m"])
        backoff = 0.0
        while True:
            started = time.perf_counter()
            try:
                received_at = process_one(message_id)
            except Exception as exc:
                if is_transient(exc) and not self._stop.is_set():
                    backoff = min(self.settings.max_backoff_s, max(0.2, backoff * 2))
                    metrics.FAILURES.labels("transient").inc()
                    log.warning(
                        "message %s: database unavailable (%s); retry in %.1fs", message_id, exc, backoff
                    )
                    if done:  # committed before the outage: acknowledge them now, not after it
                        self.acknowledge(done)
                    self._keep_claim([entry_id, *(e for e, _ in rest)])
                    self._stop.wait(backoff)
                    continue
                if is_transient(exc):  # stopping during an outage: leave it pending for another worker
                    return False
                self.failed(entry_id, fields, exc)
                return False
            break
        metrics.PROCESSING_SECONDS.observe(time.perf_counter() - started)
        if received_at is not None:
            metrics.END_TO_END_SECONDS.observe(max(0.0, time.time() - received_at))
        return True

    def _keep_claim(self, entry_ids: list[str]) -> None:
        """Reset the idle time of entries still in hand, so nobody reclaims them meanwhile."""
        if entry_ids:
            # JUSTID: claiming our own entries does not count as another delivery.
            self.redis.xclaim(self.queue.stream, self.queue.group, self.consumer, 0, entry_ids, justid=True)

    def failed(self, entry_id: str, fields: dict[str, str], exc: Exception) -> None:
        tries = int(fields.get("a", 0)) + 1
        error = f"{type(exc).__name__}: {exc}"[:2000]
        metrics.FAILURES.labels("error").inc()
        log.error("message %s failed (try %d of %d): %s", fields["m"], tries, self.settings.max_tries, error)
        if tries >= self.settings.max_tries:
            self.dead_letter(entry_id, fields, error, tries)
            return
        # Acknowledge and append again with the try count: the retry waits behind the others.
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(self.queue.stream, {"m": fields["m"], "a": str(tries), "error": error[:500]})
        pipe.xack(self.queue.stream, self.queue.group, entry_id)
        pipe.execute()

    def dead_letter(self, entry_id: str, fields: dict[str, str], error: str, tries: int) -> None:
        from socialdesk.db.base import utcnow

        metrics.FAILURES.labels("dead_letter").inc()
        log.error("message %s moved to the dead-letter stream after %d tries: %s", fields["m"], tries, error)
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(
            self.queue.dead_stream,
            {
                "m": fields["m"],
                "error": error,
                "tries": str(tries),
                "at": utcnow().isoformat(),
                "consumer": self.consumer,
            },
        )
        pipe.sadd(self.queue.dead_ids, fields["m"])
        pipe.srem(self.queue.inflight, fields["m"])
        pipe.xack(self.queue.stream, self.queue.group, entry_id)
        pipe.execute()

    def give_back(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        """On shutdown: hand unstarted entries to the other workers now instead of after a timeout."""
        if not entries:
            return
        pipe = self.redis.pipeline(transaction=True)
        for entry_id, fields in entries:
            pipe.xadd(self.queue.stream, dict(fields))
            pipe.xack(self.queue.stream, self.queue.group, entry_id)
        pipe.execute()
        log.info("gave back %d unstarted entries", len(entries))


def warm_up() -> None:
    """Load the triage models before taking work: a first message that takes longer than the
    claim timeout would be reclaimed (and done twice) while the models load."""
    from socialdesk import pipeline

    if pipeline.triage_step not in pipeline.STEPS:
        return
    try:
        from socialdesk.config import get_settings
        from socialdesk.triage import TriageContext, langid, triage

        tier = get_settings().triage_tier
        triage("warming up: where is my order?", TriageContext(), tier=tier)
        # A non-English message loads the accurate tier's multilingual encoder too.
        triage("¿Dónde está mi pedido? Llevo dos semanas esperando", TriageContext(), tier=tier)
        langid.preload()
    except Exception as exc:  # the first message will show the real error
        log.warning("triage warm-up failed: %s", exc)


def process_one(message_id: int) -> float | None:
    """The pipeline on one message in its own transaction, then the live update; its receive time.

    The message row is locked first (PostgreSQL; SQLite serialises writers anyway) and a message
    whose ``processed_at`` is already committed is skipped: every step's effects commit together
    with ``processed_at``, so a redelivery (a reclaimed entry whose first worker did commit, or
    two workers racing on one entry) is done exactly once in effect, whatever the steps do.
    """
    from socialdesk.conversations.models import Message
    from socialdesk.db.engine import session_scope
    from socialdesk.live import LiveEvent, get_broker
    from socialdesk.pipeline import process_message

    # The locking read also loads the conversation and the customer every step reads (two round
    # trips fewer per message); only the message row is locked, as before.
    query = (
        select(Message)
        .where(Message.id == message_id)
        .options(joinedload(Message.conversation), joinedload(Message.customer))
        .with_for_update(of=Message)
    )
    with session_scope() as session:
        message = session.scalar(query)
        if message is None or message.processed_at is not None:
            metrics.SKIPPED.inc()
            return None
        received_at = message.received_at.timestamp() if message.received_at else None
        summary = process_message(session, message_id)
    if summary is not None:
        try:
            get_broker().publish(LiveEvent("message.created", summary))
        except Exception as exc:  # a lost live update is re-fetched by the page; never redo the work
            log.warning("live update for message %s failed: %s", message_id, exc)
    return received_at
