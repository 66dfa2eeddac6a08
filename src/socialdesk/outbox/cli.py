"""`socialdesk outbox`: run the sender, list and retry replies."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Annotated

import typer

outbox_app = typer.Typer(help="Replies waiting to be sent, and the sender.", no_args_is_help=True)


def _upgrade() -> None:
    from socialdesk.db.engine import get_engine
    from socialdesk.db.migrate import upgrade

    upgrade(get_engine())


@outbox_app.command("send")
def send(
    watch: Annotated[
        bool, typer.Option(help="Keep running: send every --interval seconds and wake snoozed conversations.")
    ] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between passes with --watch.")] = 2.0,
    lease_seconds: Annotated[
        float, typer.Option(min=1.0, help="How long a claim lasts before another sender may reconcile it.")
    ] = 120.0,
) -> None:
    """Send every reply that is due (retries and stale claims included), once or continuously."""
    from socialdesk.outbox.sender import Sender, run_forever

    _upgrade()
    sender = Sender(lease=timedelta(seconds=lease_seconds))
    if watch:
        stop = threading.Event()
        try:
            run_forever(interval, stop=stop, sender=sender)
        except KeyboardInterrupt:
            stop.set()
        return
    typer.echo(json.dumps(sender.send_due().to_dict()))


@outbox_app.command("list")
def list_items(
    state: Annotated[str | None, typer.Option(help="queued, sending, sent, failed or cancelled")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """The newest outbox items with their state and last error."""
    from sqlalchemy import select

    from socialdesk.db.engine import session_scope
    from socialdesk.outbox.models import OUTBOX_STATES, OutboxItem

    if state is not None and state not in OUTBOX_STATES:
        typer.secho(f"error: unknown state {state!r}; expected one of {', '.join(OUTBOX_STATES)}", err=True)
        raise typer.Exit(2)
    _upgrade()
    with session_scope() as session:
        query = select(OutboxItem).order_by(OutboxItem.id.desc()).limit(limit)
        if state:
            query = query.where(OutboxItem.state == state)
        rows = session.scalars(query).all()
        for item in rows:
            error = f"  {item.last_error}" if item.last_error else ""
            typer.echo(
                f"#{item.id} {item.platform} conversation {item.conversation_id} {item.state} "
                f"attempts={item.attempts}{error}"
            )
        if not rows:
            typer.echo("outbox is empty")
