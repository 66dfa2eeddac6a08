"""Periodic jobs: SLA warnings and breaches, the outbox sender (and snoozed conversations
waking up), CSAT survey dispatch, rollups and scheduled reports.

The embedded default runs them in the web process; at scale run them once per deployment
with `socialdesk scheduler` (each job is safe to run in several processes at once, but one
is enough).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from socialdesk.db.engine import session_scope

log = logging.getLogger(__name__)


def _sla(session: Session) -> None:
    from socialdesk.routing.sla import check_sla

    check_sla(session)


def _analytics(session: Session) -> None:
    from socialdesk.analytics.reports import run_due

    run_due(session)


def _rollups(session: Session) -> None:
    # Keeps the analytics rollups current as events happen, so reports only read them.
    from socialdesk.analytics.service import ensure_fresh

    ensure_fresh(session)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    run: Callable[[Session], None]
    interval: float


JOBS: tuple[Job, ...] = (
    Job("sla", _sla, 5.0),
    Job("analytics", _analytics, 60.0),
    Job("rollups", _rollups, 5.0),
)


class Scheduler:
    def __init__(self, jobs: tuple[Job, ...] = JOBS) -> None:
        self.jobs = jobs
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sender_stop: threading.Event | None = None

    def start(self) -> None:
        from socialdesk.outbox.sender import start_background_sender

        self._stop.clear()
        for job in self.jobs:
            thread = threading.Thread(
                target=self._loop, args=(job,), name=f"socialdesk-{job.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self._sender_stop = start_background_sender()

    def stop(self) -> None:
        self._stop.set()
        if self._sender_stop is not None:
            self._sender_stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    def _loop(self, job: Job) -> None:
        while not self._stop.is_set():
            try:
                with session_scope() as session:
                    job.run(session)
            except Exception:  # one failed pass must not stop the job for good
                log.exception("periodic job %s failed", job.name)
            self._stop.wait(job.interval)

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()
