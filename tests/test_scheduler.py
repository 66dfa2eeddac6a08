"""Periodic jobs run on their interval in the background and survive a failing pass."""

import threading

from socialdesk.scheduler import Job, Scheduler


def test_jobs_run_repeatedly_and_a_failure_does_not_stop_them(settings):
    runs: list[int] = []
    done = threading.Event()

    def flaky(session) -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("database hiccup")
        if len(runs) >= 3:
            done.set()

    scheduler = Scheduler((Job("flaky", flaky, 0.01),))
    scheduler.start()
    try:
        assert done.wait(10), runs
    finally:
        scheduler.stop()
    assert len(runs) >= 3


def test_the_embedded_queue_recovers_messages_left_unprocessed_by_a_stop(settings, session):
    from sqlalchemy import select

    from socialdesk.conversations.models import Message
    from socialdesk.ingest.service import Ingestor, IngestReport
    from socialdesk.queue.base import InProcessQueue
    from tests import factories

    account = factories.account(session)
    ingestor, report = Ingestor(session), IngestReport()
    for n in range(3):
        ingestor.store(account, factories.inbound(f"left-{n}"), report)
    ingestor.finish(report)
    session.commit()
    processed: list[int] = []
    queue = InProcessQueue(handler=processed.extend)
    assert queue.recover() == 3
    assert queue.drain(10)
    queue.stop()
    assert sorted(processed) == sorted(session.scalars(select(Message.id)))
