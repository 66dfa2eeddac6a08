"""The `socialdesk` command."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="socialdesk: a social customer care desk.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
dead_app = typer.Typer(help="Payloads that could not be ingested.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(dead_app, name="dead-letters")


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def _upgrade() -> None:
    from socialdesk.db.engine import get_engine
    from socialdesk.db.migrate import upgrade

    upgrade(get_engine())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    _upgrade()
    typer.echo("database is up to date")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. 'crm-sync'.")],
    role: Annotated[str, typer.Option(help="admin, supervisor or agent")] = "admin",
) -> None:
    """Create an API token; it is printed once and stored only as a hash."""
    from socialdesk.auth.service import create_token
    from socialdesk.db.engine import session_scope

    _upgrade()
    try:
        with session_scope() as session:
            token = create_token(session, name, role=role)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(token)


@app.command("ingest")
def ingest(
    file: Annotated[Path, typer.Argument(help="The file to import.")],
    format: Annotated[str, typer.Option("--format", help="twcs or jsonl")] = "jsonl",
    brand: Annotated[
        str | None, typer.Option(help="Brand slug for TWCS threads (default: one per handle).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Import messages from a file: TWCS CSV or our normalized JSONL (docs/ingest.md)."""
    from socialdesk.db.engine import session_scope
    from socialdesk.ingest.files import ImportError_, import_jsonl, import_twcs
    from socialdesk.queue import get_queue

    if format not in {"twcs", "jsonl"}:
        fail(f"unknown format {format!r}; expected twcs or jsonl", 2)
    if not file.is_file():
        fail(f"{file} does not exist or is not a file", 2)
    _upgrade()
    try:
        with session_scope() as session:
            report = (
                import_twcs(session, file, brand_slug=brand)
                if format == "twcs"
                else import_jsonl(session, file)
            )
    except ImportError_ as exc:
        fail(str(exc))
    queue = get_queue()
    try:
        queue.enqueue(report.message_ids)
        queue.drain(timeout=600)
    except Exception as exc:  # stored durably; workers' sweeper processes them later
        typer.secho(
            f"warning: {report.messages} messages are stored but could not be queued for "
            f"processing ({exc}); running workers will pick them up",
            fg="yellow",
            err=True,
        )
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        for key, value in report.to_dict().items():
            typer.echo(f"{key:>13}: {value}")


@dead_app.command("list")
def dead_letters_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show the newest dead letters and why they could not be ingested."""
    from sqlalchemy import select

    from socialdesk.db.engine import session_scope
    from socialdesk.ingest.models import DeadLetter

    _upgrade()
    with session_scope() as session:
        rows = session.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)).all()
        items = [
            {
                "id": r.id,
                "source": r.source,
                "platform": r.platform,
                "account": r.account_slug,
                "reason": r.reason,
                "created_at": r.created_at.isoformat(),
            }
            for r in rows
        ]
    if as_json:
        typer.echo(json.dumps(items))
        return
    for item in items:
        typer.echo(
            f"#{item['id']} {item['created_at']} {item['source']}/{item['platform']}: {item['reason']}"
        )
    if not items:
        typer.echo("no dead letters")


@app.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Web processes (needs PostgreSQL beyond 1).")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request (off when a proxy logs them).")] = True,
) -> None:
    """Serve the web desk and the API."""
    import uvicorn

    _upgrade()
    uvicorn.run(
        "socialdesk.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=access_log,
    )


@app.command("scheduler")
def scheduler() -> None:
    """Run the periodic jobs (SLA clocks, outbox sender, surveys, reports) until stopped."""
    from socialdesk.scheduler import Scheduler

    _upgrade()
    typer.echo("running periodic jobs; Ctrl+C to stop")
    with contextlib.suppress(KeyboardInterrupt):
        Scheduler().run_forever()


@app.command("demo")
def demo(
    host: str = "127.0.0.1",
    port: int = 8000,
    pace: Annotated[float, typer.Option(help="Seconds between replayed deliveries.")] = 0.5,
    once: Annotated[bool, typer.Option(help="Replay once, then exit (for CI).")] = False,
) -> None:
    """Create a demo brand, replay real traffic through the webhooks, and keep serving."""
    from socialdesk.demo import run_demo

    _upgrade()
    run_demo(host=host, port=port, pace=pace, once=once)


def _mount_optional() -> None:
    """Domains that bring their own subcommands."""
    from socialdesk.queue.cli import queue_app, worker

    app.add_typer(queue_app, name="queue")
    app.command("worker")(worker)
    from socialdesk.outbox.cli import outbox_app

    app.add_typer(outbox_app, name="outbox")
    from socialdesk.analytics.cli import report_app

    app.add_typer(report_app, name="report")
    from socialdesk.routing.cli import agent_app, sla_app, team_app

    app.add_typer(agent_app, name="agent")
    app.add_typer(team_app, name="team")
    app.add_typer(sla_app, name="sla")
    from socialdesk.automation.cli import automation_app

    app.add_typer(automation_app, name="automation")
    from socialdesk.listening.cli import listen_app

    app.add_typer(listen_app, name="listen")
    from socialdesk.triage.cli import triage_app

    app.add_typer(triage_app, name="triage")


_mount_optional()


def main() -> None:  # pragma: no cover
    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover - `python -m socialdesk.cli`
    main()
