"""Every platform fixture is listed, with its source, in the fixtures README."""

from __future__ import annotations

import json

from tests.platforms.conftest import FIXTURES


def test_every_fixture_has_a_source_row_and_is_json() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    files = sorted(FIXTURES.glob("*/*.json"))
    assert files
    for path in files:
        name = f"`{path.parent.name}/{path.name}`"
        assert name in readme, f"{name} has no source row in tests/fixtures/platforms/README.md"
        json.loads(path.read_text(encoding="utf-8"))
