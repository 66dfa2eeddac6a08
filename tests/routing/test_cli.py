"""The `socialdesk agent|team|sla|automation` commands, on a freshly migrated database."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from socialdesk.cli import app
from socialdesk.config import get_settings
from socialdesk.db.engine import reset_engine_cache

runner = CliRunner()


@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIALDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SOCIALDESK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    reset_engine_cache()
    yield
    reset_engine_cache()
    get_settings.cache_clear()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_teams_and_agents_are_created_listed_and_set_online(cli_db):
    assert run("team", "create", "--slug", "de-care", "--name", "DE care", "--languages", "de").exit_code == 0
    created = run(
        "agent",
        "create",
        "--email",
        "lena@example.com",
        "--name",
        "Lena",
        "--role",
        "supervisor",
        "--password",
        "long enough",
        "--languages",
        "de,en",
        "--platforms",
        "x,instagram",
        "--team",
        "de-care",
        "--capacity",
        "7",
    )
    assert created.exit_code == 0, created.output
    assert run("agent", "availability", "lena@example.com", "online").exit_code == 0
    listed = json.loads(run("agent", "list", "--json").output)
    assert listed == [
        {
            "id": listed[0]["id"],
            "email": "lena@example.com",
            "name": "Lena",
            "role": "supervisor",
            "languages": ["de", "en"],
            "platforms": ["x", "instagram"],
            "teams": ["de-care"],
            "capacity": 7,
            "availability": "online",
            "active": True,
        }
    ]


BAD = [
    (("agent", "create", "--email", "bad", "--name", "X"), "not an email"),
    (("agent", "create", "--email", "a@b.co", "--name", "X", "--role", "god"), "unknown role"),
    (("agent", "create", "--email", "a@b.co", "--name", "X", "--team", "ghost"), "does not exist"),
    (("agent", "availability", "nobody@example.com", "online"), "no agent"),
    (("team", "create", "--slug", "x", "--name", "X", "--timezone", "Nowhere/Land"), "unknown timezone"),
    (("sla", "tick", "--now", "yesterday"), "not an ISO time"),
    (("automation", "dry-run"), "either --rule"),
    (("automation", "dry-run", "--event", "message_created", "--conditions", "{nope"), "not JSON"),
    (("automation", "dry-run", "--event", "tweeted"), "unknown event"),
]


def test_bad_input_fails_with_a_message_and_a_non_zero_exit(cli_db):
    for args, words in BAD:
        result = run(*args)
        assert result.exit_code != 0, args
        assert words in result.output, (args, result.output)
    assert "no agents" in run("agent", "list").output  # and nothing was created


def test_sla_tick_and_automation_dry_run_on_an_empty_desk(cli_db):
    tick = run("sla", "tick", "--json", "--now", "2026-11-23T10:00:00+00:00")
    assert tick.exit_code == 0 and json.loads(tick.output) == []
    dry = run(
        "automation",
        "dry-run",
        "--event",
        "message_created",
        "--conditions",
        '{"field": "text", "op": "contains", "value": "refund"}',
        "--json",
    )
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["matched"] == 0
