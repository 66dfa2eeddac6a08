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


def test_twcs_sample_is_whole_and_in_the_original_schema() -> None:
    import csv

    path = FIXTURES.parent / "twcs" / "sample.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "tweet_id",
        "author_id",
        "inbound",
        "created_at",
        "text",
        "response_tweet_id",
        "in_response_to_tweet_id",
    ]
    assert len(rows) == 93
    assert rows[0]["tweet_id"] == "119237" and rows[0]["inbound"] == "True"
    assert {r["inbound"] for r in rows} == {"True", "False"}
