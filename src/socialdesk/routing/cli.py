"""`socialdesk agent …`, `socialdesk team …` and `socialdesk sla …`."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Annotated

import typer

agent_app = typer.Typer(help="Agents: accounts, roles, skills, availability.", no_args_is_help=True)
team_app = typer.Typer(help="Teams and their members.", no_args_is_help=True)
sla_app = typer.Typer(help="SLA clocks: warnings and breaches.", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(code)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _upgrade() -> None:
    from socialdesk.db.engine import get_engine
    from socialdesk.db.migrate import upgrade

    upgrade(get_engine())


CLI = "cli"


@agent_app.command("create")
def agent_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    role: Annotated[str, typer.Option(help="admin, supervisor or agent")] = "agent",
    password: Annotated[
        str | None, typer.Option(help="At least 8 characters (stored as an argon2 hash).")
    ] = None,
    languages: Annotated[str | None, typer.Option(help="Comma-separated, e.g. de,en")] = None,
    platforms: Annotated[str | None, typer.Option(help="Comma-separated, e.g. x,instagram")] = None,
    team: Annotated[list[str] | None, typer.Option(help="Team slug (repeatable).")] = None,
    capacity: Annotated[int, typer.Option(help="Most open conversations at once.")] = 10,
    availability: Annotated[str, typer.Option(help="online, away or offline")] = "offline",
) -> None:
    """Create an agent."""
    from socialdesk.auth.service import Principal
    from socialdesk.db.engine import session_scope
    from socialdesk.routing.service import RoutingError, create_agent

    _upgrade()
    try:
        with session_scope() as session:
            agent = create_agent(
                session,
                email=email,
                name=name,
                role=role,
                password=password,
                languages=_split(languages),
                platforms=_split(platforms),
                capacity=capacity,
                availability=availability,
                team_slugs=team or [],
                actor=Principal(name=CLI, role="admin"),
            )
            agent_id = agent.id
    except RoutingError as exc:
        _fail(str(exc))
    typer.echo(f"agent {agent_id} created: {email} ({role})")


@agent_app.command("list")
def agent_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List agents with their skills, capacity and availability."""
    from sqlalchemy import select

    from socialdesk.db.engine import session_scope
    from socialdesk.routing.models import Agent

    _upgrade()
    with session_scope() as session:
        rows = [
            {
                "id": a.id,
                "email": a.email,
                "name": a.name,
                "role": a.role,
                "languages": a.languages,
                "platforms": a.platforms,
                "teams": [t.slug for t in a.teams],
                "capacity": a.capacity,
                "availability": a.availability,
                "active": a.active,
            }
            for a in session.scalars(select(Agent).order_by(Agent.id))
        ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        typer.echo(
            f"#{r['id']} {r['email']} {r['role']} {r['availability']} cap={r['capacity']} "
            f"lang={','.join(r['languages']) or '*'} platforms={','.join(r['platforms']) or '*'} "
            f"teams={','.join(r['teams']) or '-'}"
        )
    if not rows:
        typer.echo("no agents")


@agent_app.command("availability")
def agent_availability(
    email: Annotated[str, typer.Argument(help="The agent's email.")],
    availability: Annotated[str, typer.Argument(help="online, away or offline")],
) -> None:
    """Set an agent's availability (going offline may release their conversations)."""
    from sqlalchemy import select

    from socialdesk.auth.service import Principal
    from socialdesk.db.engine import session_scope
    from socialdesk.routing.models import Agent
    from socialdesk.routing.service import RoutingError, set_availability

    _upgrade()
    try:
        with session_scope() as session:
            agent = session.scalar(select(Agent).where(Agent.email == email.strip().lower()))
            if agent is None:
                raise RoutingError(f"no agent with email {email}")
            set_availability(session, agent, availability, actor=Principal(name=CLI, role="admin"))
    except RoutingError as exc:
        _fail(str(exc))
    typer.echo(f"{email} is {availability}")


@team_app.command("create")
def team_create(
    slug: Annotated[str, typer.Option(help="Short name, e.g. de-care.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    brand: Annotated[str | None, typer.Option(help="Brand slug (default: any brand).")] = None,
    languages: Annotated[str | None, typer.Option(help="Comma-separated skills, e.g. de")] = None,
    platforms: Annotated[str | None, typer.Option(help="Comma-separated, e.g. instagram")] = None,
    timezone: Annotated[str, typer.Option(help="IANA timezone for business hours.")] = "UTC",
    senior: Annotated[bool, typer.Option("--senior", help="Takes VIP and high-urgency escalations.")] = False,
    crisis: Annotated[bool, typer.Option("--crisis", help="The crisis team.")] = False,
) -> None:
    """Create a team."""
    from socialdesk.auth.service import Principal
    from socialdesk.db.engine import session_scope
    from socialdesk.routing.service import RoutingError, create_team

    _upgrade()
    try:
        with session_scope() as session:
            team = create_team(
                session,
                slug=slug,
                name=name,
                brand_slug=brand,
                languages=_split(languages),
                platforms=_split(platforms),
                timezone=timezone,
                is_senior=senior,
                is_crisis=crisis,
                actor=Principal(name=CLI, role="admin"),
            )
            team_id = team.id
    except RoutingError as exc:
        _fail(str(exc))
    typer.echo(f"team {team_id} created: {slug}")


@team_app.command("add-member")
def team_add_member(
    slug: Annotated[str, typer.Argument(help="Team slug.")],
    email: Annotated[str, typer.Argument(help="Agent email.")],
) -> None:
    """Add an agent to a team."""
    from sqlalchemy import select

    from socialdesk.auth.service import Principal
    from socialdesk.db.engine import session_scope
    from socialdesk.routing.models import Agent
    from socialdesk.routing.service import RoutingError, set_membership, team_by_slug

    _upgrade()
    try:
        with session_scope() as session:
            agent = session.scalar(select(Agent).where(Agent.email == email.strip().lower()))
            if agent is None:
                raise RoutingError(f"no agent with email {email}")
            set_membership(
                session, team_by_slug(session, slug), agent, True, actor=Principal(name=CLI, role="admin")
            )
    except RoutingError as exc:
        _fail(str(exc))
    typer.echo(f"{email} is in team {slug}")


@sla_app.command("tick")
def sla_tick(
    now: Annotated[str | None, typer.Option(help="ISO time to evaluate at (default: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run one SLA check: refresh changed clocks, fire due warnings and breaches."""
    from socialdesk.db.engine import session_scope
    from socialdesk.routing.sla import check_sla

    at = None
    if now:
        try:
            at = datetime.fromisoformat(now)
        except ValueError:
            _fail(f"--now {now!r} is not an ISO time like 2026-11-23T10:00:00+00:00", 2)
        if at is not None and at.tzinfo is None:
            _fail("--now needs a timezone, e.g. 2026-11-23T10:00:00+00:00", 2)
    _upgrade()
    with session_scope() as session:
        fired = check_sla(session, at)
        items = [{"conversation_id": f.conversation_id, "kind": f.kind, "target": f.target} for f in fired]
    if as_json:
        typer.echo(json.dumps(items))
        return
    for item in items:
        typer.echo(f"{item['kind']} {item['target']} conversation {item['conversation_id']}")
    typer.echo(f"{len(items)} alert(s) fired")


@sla_app.command("run")
def sla_run(interval: Annotated[float, typer.Option(min=0.5, help="Seconds between ticks.")] = 5.0) -> None:
    """Tick forever (Ctrl-C stops)."""
    from socialdesk.routing.sla import run_sla_loop

    _upgrade()
    stop = threading.Event()
    try:
        run_sla_loop(stop, interval)
    except KeyboardInterrupt:
        stop.set()
