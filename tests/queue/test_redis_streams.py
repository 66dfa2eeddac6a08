"""The Redis Streams backend: acknowledge after commit, reclaim, dead letters, trimming, shutdown."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk import pipeline
from socialdesk.conversations.models import Message
from socialdesk.queue.redis_streams import RedisStreamQueue, StreamWorker
from tests import factories
from tests.queue.factories import make_queue, store_messages

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def processed(session: Session, ids: list[int]) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).where(Message.id.in_(ids), Message.processed_at.is_not(None)))


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_worker_processes_every_message_acknowledges_after_commit_and_trims(session, queue):
    account = factories.account(session)
    ids = store_messages(session, account, [f"where is my order {i}?" for i in range(30)])
    queue.enqueue(ids)
    assert queue.stats().lag == 30

    queue.run_worker_thread("w1")
    assert queue.drain(timeout=30)

    assert processed(session, ids) == 30
    triaged = session.scalars(select(Message).where(Message.id.in_(ids))).all()
    assert all(m.triage is not None and m.sentiment for m in triaged)
    stats = queue.stats()
    assert (stats.lag, stats.pending) == (0, 0)
    # Acknowledged entries are trimmed away by the worker's housekeeping.
    assert wait_for(lambda: queue.stats().length == 0, 5)


def test_redelivering_a_processed_message_changes_nothing(session, queue):
    account = factories.account(session)
    [message_id] = store_messages(session, account, ["my parcel is late"])
    queue.enqueue([message_id])
    queue.run_worker_thread("w1")
    assert queue.drain(timeout=20)
    session.expire_all()
    first = session.get(Message, message_id)
    before = (first.processed_at, first.triage, first.conversation.urgency, first.conversation.message_count)

    queue.enqueue([message_id])  # at-least-once: the same id again
    assert queue.drain(timeout=20)
    session.expire_all()
    again = session.get(Message, message_id)
    assert (
        again.processed_at,
        again.triage,
        again.conversation.urgency,
        again.conversation.message_count,
    ) == before


def test_entries_of_a_worker_that_died_are_reclaimed_by_another(session, queue):
    account = factories.account(session)
    ids = store_messages(session, account, [f"refund please {i}" for i in range(5)])
    queue.enqueue(ids)
    # A worker reads the batch and dies before acknowledging anything.
    taken = queue.redis.xreadgroup(queue.group, "dead-worker", {queue.stream: ">"}, count=10)
    assert len(taken[0][1]) == 5
    assert queue.stats().pending == 5

    survivor = queue.run_worker_thread("survivor")
    assert wait_for(lambda: processed(session, ids) == 5, 20)
    assert wait_for(lambda: queue.stats().pending == 0, 5)
    assert survivor.processed == 5
    assert queue.redis.xpending(queue.stream, queue.group)["pending"] == 0


def test_a_poison_message_is_dead_lettered_after_max_tries_and_does_not_block_the_others(
    session, queue, monkeypatch
):
    def crashes_on_poison(session: Session, message: Message) -> None:
        if "POISON" in message.text:
            raise RuntimeError("triage blew up on this text")

    monkeypatch.setattr(pipeline, "STEPS", [crashes_on_poison, *pipeline.STEPS])
    account = factories.account(session)
    ids = store_messages(session, account, ["hello 1", "POISON pill", *[f"hello {i}" for i in range(2, 10)]])
    poison_id = ids[1]
    queue.enqueue(ids)
    queue.run_worker_thread("w1")

    assert wait_for(lambda: queue.stats().dead_letters == 1, 20)
    assert queue.drain(timeout=20)
    assert processed(session, [i for i in ids if i != poison_id]) == 9
    assert processed(session, [poison_id]) == 0
    [letter] = queue.dead_letters()
    assert letter["message_id"] == poison_id
    assert letter["tries"] == queue.settings.max_tries == 3
    assert "RuntimeError: triage blew up on this text" in letter["error"]
    # The sweeper does not resurrect a dead letter although it is stored and unprocessed.
    time.sleep(queue.settings.sweep_grace_s + queue.settings.sweep_interval_s * 2)
    assert queue.redis.xlen(queue.stream) == 0 or queue.drain(timeout=5)
    assert queue.stats().dead_letters == 1

    # Fixed (the step no longer crashes), an admin replays it and it is processed.
    monkeypatch.setattr(pipeline, "STEPS", [s for s in pipeline.STEPS if s is not crashes_on_poison])
    assert queue.replay([letter["entry_id"]]) == [poison_id]
    assert wait_for(lambda: processed(session, [poison_id]) == 1, 20)
    assert queue.stats().dead_letters == 0


def test_replaying_an_unknown_dead_letter_is_an_error_that_changes_nothing(queue):
    with pytest.raises(KeyError):
        queue.replay(["1-1"])
    assert queue.redis.xlen(queue.stream) == 0


def test_stopping_finishes_the_message_in_hand_and_gives_back_the_rest(session, queue, monkeypatch):
    account = factories.account(session)
    ids = store_messages(session, account, [f"slow {i}" for i in range(6)])
    worker = StreamWorker(queue, "stopping")

    def slow_then_stop(session: Session, message: Message) -> None:
        worker.request_stop()  # SIGTERM arrives while the first message is in hand

    monkeypatch.setattr(pipeline, "STEPS", [slow_then_stop, *pipeline.STEPS])
    queue.enqueue(ids)
    worker.run()

    assert worker.processed == 1
    assert processed(session, ids) == 1
    stats = queue.stats()
    # The five unstarted entries are back on the stream for others, not stuck as pending.
    assert (stats.pending, stats.lag) == (0, 5)
    monkeypatch.setattr(pipeline, "STEPS", [s for s in pipeline.STEPS if s is not slow_then_stop])
    queue.run_worker_thread("next")
    assert queue.drain(timeout=20)
    assert processed(session, ids) == 6


def test_a_batch_is_acknowledged_only_after_its_messages_committed(session, queue, monkeypatch):
    # A claim timeout long enough that even a slow machine finishes the batch before acking early.
    queue = make_queue(queue.url, claim_idle_ms=120_000)
    account = factories.account(session)
    ids = store_messages(session, account, [f"batch {i}" for i in range(4)])
    worker = StreamWorker(queue, "batcher")
    pending_seen: list[int] = []

    def note_pending(session: Session, message: Message) -> None:
        # While a message is in hand, nothing of its batch is acknowledged yet: the entries of
        # messages committed before it wait for the batch's single acknowledgement.
        pending_seen.append(queue.stats().pending)

    monkeypatch.setattr(pipeline, "STEPS", [note_pending, *pipeline.STEPS])
    queue.enqueue(ids)
    assert worker.poll_once() == 4

    assert pending_seen == [4, 4, 4, 4]
    assert processed(session, ids) == 4
    assert (queue.stats().pending, worker.processed) == (0, 4)


def test_a_slow_batch_acknowledges_as_it_goes_before_others_could_reclaim(session, queue, monkeypatch):
    account = factories.account(session)
    ids = store_messages(session, account, [f"slow batch {i}" for i in range(3)])
    worker = StreamWorker(queue, "slow")  # claim_idle_ms 500: acknowledge at least every 125 ms
    pending_seen: list[int] = []

    def slow(session: Session, message: Message) -> None:
        pending_seen.append(queue.stats().pending)
        time.sleep(0.2)

    monkeypatch.setattr(pipeline, "STEPS", [slow, *pipeline.STEPS])
    queue.enqueue(ids)
    assert worker.poll_once() == 3

    assert pending_seen == [3, 2, 1]
    assert processed(session, ids) == 3
    assert queue.stats().pending == 0


def test_a_committed_message_whose_enqueue_was_lost_is_swept_onto_the_stream(session, queue):
    account = factories.account(session)
    ids = store_messages(session, account, ["stored while redis was down", "me too"])
    # Nothing enqueued (the XADD failed after the commit). The sweeper finds them after the grace.
    time.sleep(queue.settings.sweep_grace_s)
    queue.run_worker_thread("w1")
    assert wait_for(lambda: processed(session, ids) == 2, 20)


def test_drain_returns_false_at_once_when_no_worker_consumes(session, queue):
    account = factories.account(session)
    queue.enqueue(store_messages(session, account, ["nobody reads me"]))
    started = time.monotonic()
    assert queue.drain(timeout=30) is False
    assert time.monotonic() - started < 2


def test_lag_and_oldest_age_show_back_pressure(session, queue: RedisStreamQueue):
    account = factories.account(session)
    queue.enqueue(store_messages(session, account, ["a", "b", "c"]))
    time.sleep(0.3)
    stats = queue.stats()
    assert stats.lag == 3 and stats.length == 3
    assert stats.oldest_age_s >= 0.25


def test_the_sweeper_leaves_a_waiting_backlog_alone_and_enqueues_only_what_was_lost(session, queue):
    account = factories.account(session)
    waiting = store_messages(session, account, ["queued 1", "queued 2", "queued 3"])
    queue.enqueue(waiting)
    [lost] = store_messages(session, account, ["stored, but its XADD failed"], prefix="lost")
    time.sleep(queue.settings.sweep_grace_s + 0.1)

    assert queue.sweep() == 1
    entries = [int(fields["m"]) for _, fields in queue.redis.xrange(queue.stream)]
    assert sorted(entries) == sorted([*waiting, lost])  # each once: nothing waiting was duplicated
