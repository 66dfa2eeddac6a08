"""`socialdesk report`: the KPI report now, and its schedules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

report_app = typer.Typer(
    help="KPI reports: print one now, or schedule a weekly one by e-mail or webhook.",
    invoke_without_command=True,
)
schedule_app = typer.Typer(help="Scheduled reports.", no_args_is_help=True)
report_app.add_typer(schedule_app, name="schedule")


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def _upgrade() -> None:
    from socialdesk.db.engine import get_engine
    from socialdesk.db.migrate import upgrade

    upgrade(get_engine())


@report_app.callback()
def report(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="7d, 24h, 2w or a date (UTC).")] = "7d",
    until: Annotated[str | None, typer.Option(help="End (exclusive); default now.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="md, csv or json")] = "md",
    brand: Annotated[str | None, typer.Option(help="Brand slug.")] = None,
    platform: Annotated[str | None, typer.Option()] = None,
    team: Annotated[str | None, typer.Option(help="Team slug.")] = None,
    agent: Annotated[str | None, typer.Option(help="Agent e-mail or id.")] = None,
    language: Annotated[str | None, typer.Option()] = None,
    country: Annotated[str | None, typer.Option()] = None,
    business_hours: Annotated[
        bool, typer.Option("--business-hours", help="Count business time only.")
    ] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file instead.")] = None,
) -> None:
    """Print the KPI report for a period (docs/kpis.md defines every figure)."""
    if ctx.invoked_subcommand is not None:
        return
    from socialdesk.analytics.kpis import FilterError, build_filters
    from socialdesk.analytics.reports import FORMATS, build_report, render
    from socialdesk.analytics.service import ensure_fresh
    from socialdesk.db.engine import session_scope

    if format not in FORMATS:
        _fail(f"unknown format {format!r}; use md, csv or json")
    _upgrade()
    with session_scope() as session:
        try:
            f = build_filters(
                session,
                since=since,
                until=until,
                brand=brand,
                platform=platform,
                team=team,
                agent=agent,
                language=language,
                country=country,
                business_hours=business_hours,
            )
        except FilterError as exc:
            _fail(str(exc))
        ensure_fresh(session)
        text = render(build_report(session, f), format)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"report written to {output}")
    else:
        typer.echo(text, nl=False)


@schedule_app.command("add")
def schedule_add(
    name: Annotated[str, typer.Argument(help="A name for the schedule.")],
    email: Annotated[str, typer.Option("--email", help="Recipients, comma-separated.")] = "",
    webhook: Annotated[
        str, typer.Option("--webhook", help="URL to POST the report to (Slack-compatible).")
    ] = "",
    every: Annotated[str, typer.Option(help="weekly or daily")] = "weekly",
    weekday: Annotated[int, typer.Option(help="0 = Monday … 6 = Sunday")] = 0,
    hour: Annotated[int, typer.Option(help="Hour of day, UTC.")] = 8,
    format: Annotated[str, typer.Option("--format", "-f", help="md, csv or json")] = "md",
    brand: Annotated[str | None, typer.Option(help="Brand slug.")] = None,
) -> None:
    """Send the report every week (or day) by e-mail and/or to a webhook."""
    from socialdesk.analytics.reports import ReportError, create_schedule
    from socialdesk.db.engine import session_scope

    _upgrade()
    try:
        with session_scope() as session:
            s = create_schedule(
                session,
                name=name,
                every=every,
                weekday=weekday,
                hour=hour,
                format=format,
                email_to=email,
                webhook_url=webhook,
                brand=brand,
            )
            typer.echo(f"schedule #{s.id} {s.name}: next run {s.next_run_at.isoformat()}")
    except ReportError as exc:
        _fail(str(exc))


@schedule_app.command("list")
def schedule_list() -> None:
    from sqlalchemy import select

    from socialdesk.analytics.models import ReportSchedule
    from socialdesk.db.engine import session_scope

    _upgrade()
    with session_scope() as session:
        rows = session.scalars(select(ReportSchedule).order_by(ReportSchedule.id)).all()
        for s in rows:
            to = ", ".join(filter(None, (s.email_to, s.webhook_url)))
            status = f" last error: {s.last_error}" if s.last_error else ""
            typer.echo(
                f"#{s.id} {s.name}: {s.every} {s.format} → {to}; next {s.next_run_at.isoformat()}{status}"
            )
        if not rows:
            typer.echo("no report schedules")


@schedule_app.command("remove")
def schedule_remove(schedule_id: int) -> None:
    from socialdesk.analytics.models import ReportSchedule
    from socialdesk.db.engine import session_scope

    _upgrade()
    with session_scope() as session:
        s = session.get(ReportSchedule, schedule_id)
        if s is None:
            _fail(f"no report schedule #{schedule_id}", 1)
        session.delete(s)
    typer.echo(f"schedule #{schedule_id} removed")


@schedule_app.command("run")
def schedule_run(
    loop: Annotated[
        bool, typer.Option("--loop", help="Keep running, checking every --interval seconds.")
    ] = False,
    interval: Annotated[float, typer.Option(min=1)] = 60.0,
) -> None:
    """Send the reports that are due (and queue CSAT surveys for resolved conversations)."""
    from socialdesk.analytics.reports import loop as run_loop
    from socialdesk.analytics.reports import run_due
    from socialdesk.db.engine import session_scope

    _upgrade()
    if loop:
        run_loop(interval)
        return
    with session_scope() as session:
        done = run_due(session)
        for s, outcome in done:
            typer.echo(f"#{s.id} {s.name}: {outcome}")
        if not done:
            typer.echo("no reports due")
    if any(outcome != "sent" for _, outcome in done):
        raise typer.Exit(1)


@report_app.command("rebuild")
def rebuild() -> None:
    """Recompute every conversation's KPI rollups from its events (after changing business
    hours or SLA policies, or once after installing on a large existing desk)."""
    import time

    from socialdesk.analytics.rollup import rebuild_all
    from socialdesk.db.engine import session_scope

    _upgrade()
    started = time.perf_counter()
    with session_scope() as session:
        n = rebuild_all(session)
    typer.echo(f"rebuilt the KPI rollups of {n} conversations in {time.perf_counter() - started:.1f} s")
