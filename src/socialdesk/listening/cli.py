"""`socialdesk listen ...`: try a query on stored history, list rules and alerts."""

from __future__ import annotations

import json
from typing import Annotated

import typer

listen_app = typer.Typer(help="Social listening: queries, rules, alerts.", no_args_is_help=True)


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


@listen_app.command("test")
def test_query(
    query: Annotated[
        str, typer.Argument(help="A listening query, e.g. '\"next day\" AND deliver* NOT pizza'.")
    ],
    since: Annotated[str, typer.Option(help="How far back: 30m, 12h, 7d, 2w.")] = "7d",
    brand: Annotated[str | None, typer.Option(help="Only this brand's messages (slug).")] = None,
    samples: Annotated[int, typer.Option(min=0, max=50)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """How many stored messages a query would have matched, with samples."""
    from socialdesk.db.engine import get_engine, session_scope
    from socialdesk.db.migrate import upgrade
    from socialdesk.listening.service import RuleError, preview

    upgrade(get_engine())
    try:
        with session_scope() as session:
            result = preview(session, query, since=since, brand=brand, samples=samples)
    except RuleError as exc:
        _fail(str(exc) if "position" not in exc.details else _pointer(query, exc.details))
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    typer.echo(
        f"would have matched {result['matched']} of {result['scanned']} messages since {result['from']}"
    )
    for day, n in result["per_day"].items():
        typer.echo(f"  {day}: {n}")
    for s in result["samples"]:
        typer.echo(f"  #{s['message_id']} {s['sent_at'][:16]} @{s['author']}: {s['text'][:120]}")


def _pointer(query: str, details: dict) -> str:
    pos = int(details["position"])
    return f"{details['error']} at position {pos}\n  {query}\n  {' ' * pos}^"


@listen_app.command("rules")
def rules(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the listening rules."""
    from sqlalchemy import select

    from socialdesk.db.engine import get_engine, session_scope
    from socialdesk.db.migrate import upgrade
    from socialdesk.listening.models import ListeningRule

    upgrade(get_engine())
    with session_scope() as session:
        items = [
            {
                "id": r.id,
                "brand_id": r.brand_id,
                "name": r.name,
                "kind": r.kind,
                "query": r.query,
                "active": r.active,
            }
            for r in session.scalars(select(ListeningRule).order_by(ListeningRule.id))
        ]
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False))
        return
    for r in items:
        typer.echo(
            f"#{r['id']} [{r['kind']}] {r['name']}: {r['query']}{'' if r['active'] else ' (inactive)'}"
        )
    if not items:
        typer.echo("no listening rules")


@listen_app.command("alerts")
def list_alerts(
    status: Annotated[str | None, typer.Option(help="open, acknowledged, snoozed or active")] = "active",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show the newest alerts."""
    from socialdesk.db.engine import get_engine, session_scope
    from socialdesk.db.migrate import upgrade
    from socialdesk.listening import alerts

    if status not in (None, "open", "acknowledged", "snoozed", "active"):
        _fail(f"unknown status {status!r}; expected open, acknowledged, snoozed or active")
    upgrade(get_engine())
    with session_scope() as session:
        items = [alerts.alert_dict(a) for a in alerts.list_alerts(session, status=status)]
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False))
        return
    for a in items:
        typer.echo(f"#{a['id']} {a['last_seen_at'][:16]} [{a['kind']}/{a['status']}] {a['title']}")
    if not items:
        typer.echo("no alerts")
