"""The top-level commands: schema upgrades and API tokens."""

from typer.testing import CliRunner

from socialdesk.auth.service import authenticate_token
from socialdesk.cli import app

runner = CliRunner()


def test_db_upgrade_is_repeatable(settings):
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0 and "up to date" in result.output


def test_token_create_prints_a_token_that_authenticates_once_stored(settings, session):
    result = runner.invoke(app, ["token", "create", "crm-sync", "--role", "supervisor"])
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    principal = authenticate_token(session, token)
    assert principal is not None and principal.role == "supervisor"


def test_token_create_refuses_an_unknown_role(settings):
    result = runner.invoke(app, ["token", "create", "x", "--role", "root"])
    assert result.exit_code != 0 and "unknown role" in result.output
