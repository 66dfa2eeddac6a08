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
