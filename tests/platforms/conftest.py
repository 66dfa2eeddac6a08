"""Fixtures for the connector tests: doc-sourced payloads and a live fake platform server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from socialdesk.platforms.fake_server import RunningFakeServer, running_fake_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms"


def load(platform: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / platform / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def fake_server() -> Iterator[RunningFakeServer]:
    with running_fake_server() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: RunningFakeServer) -> RunningFakeServer:
    fake_server.reset()
    return fake_server
