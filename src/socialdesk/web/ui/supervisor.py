"""The supervisor's board: team queues with SLA risk, agents' load, the last hour's volume."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.conversations.models import Conversation, Message
from socialdesk.db.base import utcnow
from socialdesk.routing.models import Agent, Team
from socialdesk.web.ui.inbox import ACTIVE_STATUSES, AMBER_SECONDS, sla_due_expression


@dataclass(slots=True)
class QueueRow:
    team_id: int | None
    name: str
    open: int = 0
    unassigned: int = 0
    at_risk: int = 0
    breached: int = 0
    oldest_waiting: datetime | None = None


@dataclass(slots=True)
class AgentRow:
    name: str
    role: str
    availability: str
    capacity: int
    open: int
    load: float  # open / capacity


@dataclass(slots=True)
class Board:
    queues: list[QueueRow]
    agents: list[AgentRow]
    volume: dict[str, dict[str, int]]  # platform → sentiment → inbound messages in the last hour
    volume_max: int
    since: datetime
    generated_at: datetime = field(default_factory=utcnow)


BOARD_SECONDS = 5.0


def cached_board(session: Session) -> Board:
    """The board, reused for a few seconds: every open board re-draws on each live event."""
    from socialdesk.config import get_settings
    from socialdesk.web.ui.cache import remembered

    return remembered((get_settings().resolved_database_url, "board"), BOARD_SECONDS, lambda: board(session))


def board(session: Session, now: datetime | None = None) -> Board:
    now = now or utcnow()
    due = sla_due_expression()
    active = Conversation.status.in_(ACTIVE_STATUSES)
    names = dict(session.execute(select(Team.id, Team.name)).all())
    queues: dict[int | None, QueueRow] = {tid: QueueRow(tid, name) for tid, name in names.items()}
    rows = session.execute(
        select(
            Conversation.team_id,
            func.count(Conversation.id),
            func.count(Conversation.id).filter(Conversation.assignee_id.is_(None)),
            func.count(Conversation.id).filter(due > now, due <= now + timedelta(seconds=AMBER_SECONDS)),
            func.count(Conversation.id).filter(due <= now),
            func.min(Conversation.waiting_since),
        )
        .where(active)
        .group_by(Conversation.team_id)
    )
    for team_id, total, unassigned, at_risk, breached, oldest in rows:
        row = queues.setdefault(team_id, QueueRow(team_id, "No team"))
        row.open, row.unassigned, row.at_risk, row.breached, row.oldest_waiting = (
            total,
            unassigned,
            at_risk,
            breached,
            oldest,
        )
    load = dict(
        session.execute(
            select(Conversation.assignee_id, func.count(Conversation.id))
            .where(active, Conversation.assignee_id.is_not(None))
            .group_by(Conversation.assignee_id)
        ).all()
    )
    agents = [
        AgentRow(
            a.name,
            a.role,
            a.availability,
            a.capacity,
            load.get(a.id, 0),
            load.get(a.id, 0) / a.capacity if a.capacity else 0.0,
        )
        for a in session.scalars(select(Agent).where(Agent.active).order_by(Agent.name))
    ]
    since = now - timedelta(hours=1)
    volume: dict[str, dict[str, int]] = {}
    for platform, sentiment, count in session.execute(
        select(Message.platform, Message.sentiment, func.count(Message.id))
        .where(Message.received_at >= since, Message.direction == "inbound")
        .group_by(Message.platform, Message.sentiment)
    ):
        volume.setdefault(platform, {})[sentiment or "untriaged"] = count
    volume_max = max((sum(v.values()) for v in volume.values()), default=0)
    ordered = sorted(queues.values(), key=lambda q: (-q.breached, -q.at_risk, q.name))
    return Board(ordered, agents, dict(sorted(volume.items())), volume_max, since, now)
