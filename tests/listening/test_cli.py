"""`socialdesk listen test`: a query over stored history from the command line."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from socialdesk.cli import app
from tests import factories
from tests.listening.factories import message


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"  # empty: the CLI migrates it like in production


def test_cli_listen_test_prints_matches_and_rejects_bad_queries(session, settings):
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    acct = factories.account(session)
    message(session, acct, "Lieferung kam nie an", datetime.now(UTC) - timedelta(hours=3), run_step=False)
    message(session, acct, "delivery never came", datetime.now(UTC) - timedelta(days=10), run_step=False)
    session.commit()
    ok = runner.invoke(app, ["listen", "test", "lieferung OR deliver*", "--since", "7d", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["matched"] == 1
    human = runner.invoke(app, ["listen", "test", "deliver*", "--since", "2w"])
    assert "would have matched 1 of 2 messages" in human.stdout
    bad = runner.invoke(app, ["listen", "test", "deliver* AND"])
    assert bad.exit_code == 2 and "unexpected end of query" in bad.stderr and "position 12" in bad.stderr
    assert runner.invoke(app, ["listen", "test", "x", "--since", "soon"]).exit_code == 2
