"""Real PostgreSQL and Redis servers for the tests, started by the tests themselves.

Set SOCIALDESK_TEST_POSTGRES_URL / SOCIALDESK_TEST_REDIS_URL to use running servers instead.
Without a server binary the tests that need it skip, unless SOCIALDESK_REQUIRE_SERVICES=1
(as in CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRED = os.environ.get("SOCIALDESK_REQUIRE_SERVICES") == "1"


def missing(what: str) -> None:
    if REQUIRED:
        pytest.fail(f"{what} is required (SOCIALDESK_REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} is not available")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        for version in sorted(root.iterdir(), reverse=True):
            candidate = version / "bin" / name
            if candidate.exists():
                return str(candidate)
    return None


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI and sandboxes often are root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PostgresServer:
    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise FileNotFoundError("initdb/pg_ctl not found (apt-get install postgresql)")
        self.dir = Path(tempfile.mkdtemp(prefix="socialdesk-pg-"))
        self.port = free_port()
        data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            _as_postgres_user(
                [
                    initdb,
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            ),
            check=True,
            capture_output=True,
        )
        self.pg_ctl = pg_ctl
        self.data = data
        # Durability settings off: a test server is thrown away, speed matters more.
        opts = (
            f"-p {self.port} -k {self.dir} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        subprocess.run(
            _as_postgres_user(
                [pg_ctl, "-D", str(data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(
            _as_postgres_user([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    def __init__(self, appendfsync: str = "always") -> None:
        # The tests fsync every write; the benchmarks use the deployment's `everysec`.
        self.appendfsync = appendfsync
        binary = shutil.which("redis-server")
        if not binary:
            raise FileNotFoundError("redis-server not found (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="socialdesk-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server's maintenance database."""
    url = os.environ.get("SOCIALDESK_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        server = PostgresServer()
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        missing(f"PostgreSQL ({exc} {detail.decode(errors='replace')[:300]})")
        return
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except (FileNotFoundError, RuntimeError) as exc:
        missing(f"Redis ({exc})")
        return
    yield server
    server.cleanup()
