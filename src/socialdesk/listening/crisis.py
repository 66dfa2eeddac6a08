"""Crisis mode: declare on a query or an alert, route matching conversations, pause automation,
offer the holding statement, and keep a timeline until the crisis is closed with a summary."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.db.base import utcnow
from socialdesk.listening.matcher import Document, Matcher
from socialdesk.listening.models import Alert, Crisis, CrisisConversation, CrisisEvent, ListeningRule
from socialdesk.listening.query import QueryError, parse
from socialdesk.routing.models import Team

CRISIS_LABEL = "crisis"
ROUTABLE = ("new", "open")


class CrisisError(ValueError):
    pass


def _query_for_alert(session: Session, alert: Alert) -> str:
    if alert.rule_id is not None:
        rule = session.get(ListeningRule, alert.rule_id)
        if rule is not None:
            return rule.query
    if alert.kind == "emerging":
        phrases = [p for p in alert.data.get("phrases", [])[:3] if not p.startswith("#")] or [
            alert.data["label"]
        ]
        return " OR ".join(f'"{p}"' for p in phrases)
    if alert.kind == "issue_spike":
        return f"issue:{alert.series.split(':')[3]}"
    if alert.kind == "negative_share":
        return "sentiment:negative"
    raise CrisisError(f"alert {alert.id} has no query to declare a crisis on; give one")


def _crisis_team(session: Session, brand_id: int | None, team_id: int | None) -> Team:
    if team_id is not None:
        team = session.get(Team, team_id)
        if team is None:
            raise CrisisError(f"team {team_id} does not exist")
        return team
    teams = session.scalars(select(Team).where(Team.is_crisis.is_(True)).order_by(Team.id)).all()
    for team in teams:
        if team.brand_id == brand_id:
            return team
    for team in teams:
        if team.brand_id is None:
            return team
    raise CrisisError("no crisis team: create a team with is_crisis=true, or pass team_id")


def declare(
    session: Session,
    *,
    name: str,
    actor: str,
    query: str | None = None,
    alert_id: int | None = None,
    brand_id: int | None = None,
    team_id: int | None = None,
    holding_statement: str = "",
    pause_all_automation: bool = False,
    now: datetime | None = None,
) -> Crisis:
    now = now or utcnow()
    if not name.strip():
        raise CrisisError("a crisis needs a name")
    alert = None
    if alert_id is not None:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise CrisisError(f"alert {alert_id} does not exist")
        brand_id = brand_id if brand_id is not None else alert.brand_id
        query = query or _query_for_alert(session, alert)
    if not query:
        raise CrisisError("declare a crisis on a query or an alert_id")
    try:
        parse(query)
    except QueryError as exc:
        raise CrisisError(f"invalid query: {exc.reason} at position {exc.position}") from exc
    team = _crisis_team(session, brand_id, team_id)
    crisis = Crisis(
        name=name.strip(),
        brand_id=brand_id,
        query=query,
        team_id=team.id,
        alert_id=alert_id,
        holding_statement=holding_statement,
        pause_all_automation=pause_all_automation,
        declared_by=actor,
        declared_at=now,
    )
    session.add(crisis)
    session.flush()
    session.add(
        CrisisEvent(
            crisis_id=crisis.id,
            at=now,
            kind="declared",
            actor=actor,
            data={"query": query, "team_id": team.id, "alert_id": alert_id},
        )
    )
    if alert is not None and alert.status == "open":
        alert.status = "acknowledged"
        alert.acknowledged_by, alert.acknowledged_at = actor, now
    _sweep(session, crisis, now)
    _invalidate()
    return crisis


def _sweep(session: Session, crisis: Crisis, now: datetime) -> int:
    """Route the new and open conversations that already match."""
    matcher = Matcher([(crisis.id, crisis.query)])
    stmt = select(Conversation).where(Conversation.status.in_(ROUTABLE))
    if crisis.brand_id is not None:
        stmt = stmt.where(Conversation.brand_id == crisis.brand_id)
    routed = 0
    for conversation in session.scalars(stmt):
        messages = session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id, Message.direction == "inbound")
            .order_by(Message.sent_at.desc())
            .limit(20)
        ).all()
        from socialdesk.listening.service import document_for

        if any(matcher.match(document_for(m)) for m in messages):
            _route(session, crisis, conversation, now, actor=crisis.declared_by)
            routed += 1
    return routed


def _route(
    session: Session, crisis: Crisis, conversation: Conversation, at: datetime, actor: str = ""
) -> bool:
    if session.get(CrisisConversation, (crisis.id, conversation.id)) is not None:
        return False
    session.add(CrisisConversation(crisis_id=crisis.id, conversation_id=conversation.id, at=at))
    if CRISIS_LABEL not in (conversation.labels or []):
        conversation.labels = [*(conversation.labels or []), CRISIS_LABEL]
    previous_team = conversation.team_id
    conversation.team_id = crisis.team_id
    team = session.get(Team, crisis.team_id) if crisis.team_id else None
    if (
        conversation.assignee_id is not None
        and team is not None
        and conversation.assignee_id not in {a.id for a in team.agents}
    ):
        conversation.assignee_id = None  # the crisis team picks it up
    session.add(
        ConversationEvent(
            conversation_id=conversation.id,
            kind="crisis.routed",
            at=at,
            data={"crisis_id": crisis.id, "team_id": crisis.team_id, "previous_team_id": previous_team},
        )
    )
    session.add(
        CrisisEvent(
            crisis_id=crisis.id, at=at, kind="routed", actor=actor, data={"conversation_id": conversation.id}
        )
    )
    session.flush()
    return True


_active: dict[str, tuple[tuple[Any, ...], Matcher, dict[int, Crisis]]] = {}


def _invalidate() -> None:
    _active.clear()


def _active_crises(session: Session) -> tuple[Matcher, dict[int, tuple[int | None, int | None]]]:
    rows = session.execute(
        select(Crisis.id, Crisis.query, Crisis.brand_id, Crisis.team_id).where(Crisis.status == "active")
    ).all()
    key = str(session.get_bind().url)
    version = tuple((r.id, r.query) for r in rows)
    hit = _active.get(key)
    if hit is None or hit[0] != version:
        hit = (version, Matcher([(r.id, r.query) for r in rows]), {})
        _active[key] = hit
    return hit[1], {r.id: (r.brand_id, r.team_id) for r in rows}


def apply_to_message(session: Session, message: Message, doc: Document) -> list[int]:
    """Called by the listening step: record matching messages on active crises and route them."""
    matcher, meta = _active_crises(session)
    if not meta:
        return []
    conversation = message.conversation
    brand_id = conversation.brand_id if conversation is not None else None
    hit: list[int] = []
    for crisis_id in matcher.match(doc):
        crisis_brand, _team = meta[int(crisis_id)]
        if crisis_brand is not None and brand_id is not None and crisis_brand != brand_id:
            continue
        crisis = session.get(Crisis, crisis_id)
        session.add(
            CrisisEvent(
                crisis_id=crisis.id,
                at=message.sent_at,
                kind="message",
                data={
                    "message_id": message.id,
                    "sentiment": message.sentiment or "unknown",
                    "conversation_id": message.conversation_id,
                },
            )
        )
        if conversation is not None and conversation.status in ROUTABLE:
            _route(session, crisis, conversation, message.sent_at)
        hit.append(int(crisis_id))
    return hit


def automation_paused(session: Session, conversation: Conversation) -> bool:
    """True while an active crisis holds this conversation (or pauses all of its brand's automation).

    The automation engine must not send template replies and the outbox must hold scheduled sends
    while this is True.
    """
    if conversation.id is not None and session.scalar(
        select(
            exists().where(
                CrisisConversation.conversation_id == conversation.id,
                CrisisConversation.crisis_id == Crisis.id,
                Crisis.status == "active",
            )
        )
    ):
        return True
    return bool(
        session.scalar(
            select(
                exists().where(
                    Crisis.status == "active",
                    Crisis.pause_all_automation.is_(True),
                    (Crisis.brand_id.is_(None)) | (Crisis.brand_id == conversation.brand_id),
                )
            )
        )
    )


def holding_statement(session: Session, conversation_id: int) -> dict[str, Any] | None:
    """The approved holding statement for a conversation in an active crisis, for the agent's reply box."""
    row = session.scalar(
        select(Crisis)
        .join(CrisisConversation, CrisisConversation.crisis_id == Crisis.id)
        .where(CrisisConversation.conversation_id == conversation_id, Crisis.status == "active")
        .order_by(Crisis.declared_at.desc())
        .limit(1)
    )
    if row is None:
        return None
    return {"crisis_id": row.id, "crisis": row.name, "holding_statement": row.holding_statement}


def get(session: Session, crisis_id: int) -> Crisis:
    crisis = session.get(Crisis, crisis_id)
    if crisis is None:
        raise LookupError(f"crisis {crisis_id} does not exist")
    return crisis


def record_action(session: Session, crisis_id: int, text: str, actor: str) -> CrisisEvent:
    crisis = get(session, crisis_id)
    if crisis.status != "active":
        raise CrisisError(f"crisis {crisis_id} is closed")
    if not text.strip():
        raise CrisisError("an action needs a description")
    ev = CrisisEvent(crisis_id=crisis.id, kind="action", actor=actor, data={"text": text.strip()})
    session.add(ev)
    session.flush()
    return ev


def update_statement(session: Session, crisis_id: int, statement: str, actor: str) -> Crisis:
    crisis = get(session, crisis_id)
    if crisis.status != "active":
        raise CrisisError(f"crisis {crisis_id} is closed")
    crisis.holding_statement = statement
    session.add(CrisisEvent(crisis_id=crisis.id, kind="statement", actor=actor, data={"text": statement}))
    return crisis


def _stats(session: Session, crisis: Crisis, until: datetime) -> dict[str, Any]:
    events = session.scalars(select(CrisisEvent).where(CrisisEvent.crisis_id == crisis.id)).all()
    messages = [e for e in events if e.kind == "message"]
    sentiments = Counter(e.data.get("sentiment", "unknown") for e in messages)
    per_hour = Counter(e.at.replace(minute=0, second=0, microsecond=0) for e in messages)
    peak = max(per_hour.items(), key=lambda kv: kv[1]) if per_hour else None
    known = sum(v for k, v in sentiments.items() if k != "unknown")
    return {
        "duration_minutes": round((until - crisis.declared_at).total_seconds() / 60, 1),
        "messages": len(messages),
        "conversations_routed": sum(1 for e in events if e.kind == "routed"),
        "actions": sum(1 for e in events if e.kind == "action"),
        "sentiment": dict(sentiments),
        "negative_share": round(sentiments.get("negative", 0) / known, 3) if known else None,
        "peak_hour": peak[0].isoformat() if peak else None,
        "peak_hour_messages": peak[1] if peak else 0,
    }


def close(session: Session, crisis_id: int, summary: str, actor: str, now: datetime | None = None) -> Crisis:
    crisis = get(session, crisis_id)
    if crisis.status != "active":
        raise CrisisError(f"crisis {crisis_id} is already closed")
    if not summary.strip():
        raise CrisisError("closing a crisis needs a summary of what happened and what was done")
    now = now or utcnow()
    crisis.status = "closed"
    crisis.closed_by, crisis.closed_at = actor, now
    crisis.summary = {"text": summary.strip(), **_stats(session, crisis, now)}
    session.add(
        CrisisEvent(crisis_id=crisis.id, at=now, kind="closed", actor=actor, data={"summary": summary})
    )
    session.flush()
    _invalidate()
    return crisis


def timeline(session: Session, crisis_id: int, bucket_minutes: int = 60) -> dict[str, Any]:
    """Volume and sentiment per bucket, and every action, from declaration to close (or now)."""
    if not 1 <= bucket_minutes <= 1440:
        raise CrisisError("bucket_minutes must be between 1 and 1440")
    crisis = get(session, crisis_id)
    events = session.scalars(
        select(CrisisEvent).where(CrisisEvent.crisis_id == crisis.id).order_by(CrisisEvent.at, CrisisEvent.id)
    ).all()
    size = timedelta(minutes=bucket_minutes)
    origin = crisis.declared_at
    buckets: dict[int, Counter[str]] = {}
    for e in events:
        if e.kind == "message":
            index = int((e.at - origin) // size)
            buckets.setdefault(index, Counter())[e.data.get("sentiment", "unknown")] += 1
    volume = [
        {
            "start": (origin + i * size).isoformat(),
            "messages": sum(c.values()),
            "negative": c.get("negative", 0),
            "neutral": c.get("neutral", 0),
            "positive": c.get("positive", 0),
            "unknown": c.get("unknown", 0),
        }
        for i, c in sorted(buckets.items())
    ]
    actions = [
        {"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor, "data": e.data}
        for e in events
        if e.kind != "message"
    ]
    return {
        "crisis": crisis_dict(crisis),
        "bucket_minutes": bucket_minutes,
        "volume": volume,
        "events": actions,
        "stats": crisis.summary if crisis.status == "closed" else _stats(session, crisis, utcnow()),
    }


def crisis_dict(crisis: Crisis) -> dict[str, Any]:
    return {
        "id": crisis.id,
        "name": crisis.name,
        "brand_id": crisis.brand_id,
        "query": crisis.query,
        "team_id": crisis.team_id,
        "alert_id": crisis.alert_id,
        "holding_statement": crisis.holding_statement,
        "pause_all_automation": crisis.pause_all_automation,
        "status": crisis.status,
        "declared_by": crisis.declared_by,
        "declared_at": crisis.declared_at.isoformat(),
        "closed_by": crisis.closed_by or None,
        "closed_at": crisis.closed_at.isoformat() if crisis.closed_at else None,
        "summary": crisis.summary or None,
    }
