"""Scale tests: real PostgreSQL, real Redis, and worker processes started as the CLI starts them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcesses:
    """`socialdesk worker` processes, as an operator would run them."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        # SOCIALDESK_TEST_LOG_DIR keeps the worker logs after the test for a post-mortem.
        log_dir = Path(os.environ.get("SOCIALDESK_TEST_LOG_DIR", log_dir))
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []
        self.command = [sys.executable, "-c", "from socialdesk.cli import app; app(['worker'])"]

    def start(self) -> subprocess.Popen:
        log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"worker {proc.pid} ignored SIGTERM for 20 s; killing it")
                proc.kill()


@pytest.fixture
def db_url(postgres_url: str) -> str:
    return postgres_url


def worker_env(db_url: str, redis_url: str, stream: str, **queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
    env.update(
        SOCIALDESK_DATABASE_URL=db_url,
        SOCIALDESK_QUEUE_URL=redis_url,
        SOCIALDESK_QUEUE_STREAM=stream,
        SOCIALDESK_TRIAGE_TIER="fast",
        PYTHONPATH=str(ROOT / "src"),
    )
    env.update({f"SOCIALDESK_QUEUE_{k.upper()}": v for k, v in queue.items()})
    return env


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[type[WorkerProcesses]]:
    made: list[WorkerProcesses] = []

    def factory(env: dict[str, str]) -> WorkerProcesses:
        group = WorkerProcesses(env, tmp_path)
        made.append(group)
        return group

    yield factory  # type: ignore[misc]
    for group in made:
        group.stop_all()
