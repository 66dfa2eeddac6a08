"""`socialdesk automation …`: list rules and dry-run them over stored history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

automation_app = typer.Typer(help="Automation rules.", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


@automation_app.command("list")
def rules_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the rules in the order they run."""
    from sqlalchemy import select

    from socialdesk.automation.models import AutomationRule
    from socialdesk.db.engine import session_scope

    with session_scope() as session:
        rows = [
            {"id": r.id, "name": r.name, "event": r.event, "active": r.active, "actions": r.actions}
            for r in session.scalars(
                select(AutomationRule).order_by(AutomationRule.position, AutomationRule.id)
            )
        ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        state = "on " if r["active"] else "off"
        typer.echo(
            f"#{r['id']} [{state}] {r['event']}: {r['name']} → {', '.join(a['type'] for a in r['actions'])}"
        )
    if not rows:
        typer.echo("no rules")


@automation_app.command("dry-run")
def dry_run(
    rule: Annotated[int | None, typer.Option(help="A saved rule's id.")] = None,
    event: Annotated[str | None, typer.Option(help="Event, for unsaved conditions.")] = None,
    conditions: Annotated[str | None, typer.Option(help="Conditions as JSON, for an unsaved rule.")] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="How far back to look.")] = 7,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """How many stored events a rule would have fired on; changes nothing."""
    from socialdesk.automation.engine import AutomationError, get_rule
    from socialdesk.automation.engine import dry_run as run
    from socialdesk.db.engine import session_scope

    if (rule is None) == (event is None):
        _fail("give either --rule ID or --event (with --conditions)", 2)
    parsed = {}
    if conditions:
        try:
            parsed = json.loads(conditions)
        except json.JSONDecodeError as exc:
            _fail(f"--conditions is not JSON: {exc}", 2)
    until = datetime.now(UTC)
    try:
        with session_scope() as session:
            if rule is not None:
                saved = get_rule(session, rule)
                if saved is None:
                    _fail(f"automation rule {rule} does not exist")
                assert saved is not None
                event, parsed = saved.event, saved.conditions
            assert event is not None
            result = run(
                session, event=event, conditions=parsed, since=until - timedelta(days=days), until=until
            )
    except AutomationError as exc:
        _fail(str(exc), 2)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), default=str))
        return
    more = " (scan limit reached)" if result.truncated else ""
    typer.echo(
        f"would have matched {result.matched} of {result.examined} events in the last {days} days{more}"
    )
    for s in result.samples:
        typer.echo(f"  conversation {s['conversation_id']} at {s['at']}")
