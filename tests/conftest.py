"""Shared fixtures: a real database (SQLite file, or PostgreSQL), settings, the app."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from socialdesk.config import get_settings
from socialdesk.db.engine import get_sessionmaker, make_engine, reset_engine_cache
from socialdesk.db.models import Base
from socialdesk.queue import set_queue

pytest_plugins = ["tests.services"]

_pg_template_ready: set[str] = set()
_pg_counter = itertools.count()


def create_schema(engine) -> None:
    """The models' schema, stamped as migrated so `db upgrade` (the CLI does it) is a no-op."""
    from alembic import command

    from socialdesk.db.migrate import alembic_config

    Base.metadata.create_all(engine)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.stamp(cfg, "heads")


def _postgres_database(server_url: str) -> str:
    """A fresh database cloned from a template that already has the schema."""
    admin = create_engine(
        server_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    base = server_url.rsplit("/", 1)[0]
    with admin.connect() as conn:
        if server_url not in _pg_template_ready:
            conn.execute(text("DROP DATABASE IF EXISTS socialdesk_template"))
            conn.execute(text("CREATE DATABASE socialdesk_template"))
            engine = make_engine(f"{base}/socialdesk_template")
            create_schema(engine)
            engine.dispose()
            _pg_template_ready.add(server_url)
        name = f"t_{os.getpid()}_{next(_pg_counter)}"
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE socialdesk_template"))
    admin.dispose()
    return f"{base}/{name}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'socialdesk.db'}"
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    return _postgres_database(postgres_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(name)


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """The default database for tests that are not about storage: SQLite."""
    return sqlite_url


@pytest.fixture
def settings(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("SOCIALDESK_DATABASE_URL", db_url)
    monkeypatch.setenv("SOCIALDESK_DATA_DIR", str(tmp_path / "data"))
    # Periodic jobs would race the tests' own calls; tests run them explicitly.
    monkeypatch.setenv("SOCIALDESK_BACKGROUND_JOBS", "0")
    get_settings.cache_clear()
    reset_engine_cache()
    set_queue(None)
    yield get_settings()
    set_queue(None)
    reset_engine_cache()
    get_settings.cache_clear()


@pytest.fixture
def session(settings: object) -> Iterator[Session]:
    s = get_sessionmaker()()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def app(settings: object):
    from socialdesk.web.app import create_app

    return create_app()


@pytest.fixture
def client(app) -> Iterator[object]:
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c
