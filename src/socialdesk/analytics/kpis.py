"""The KPI queries: SQL over the rollups and the conversation table, statistics in Python.

Every figure is defined in docs/kpis.md. Filters narrow by the conversation's dimensions; a
date range applies to the instant each figure is measured at (the reply, the resolution, the
answer, the message), see "Date ranges" in docs/kpis.md.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from socialdesk.analytics.models import (
    ConversationFacts,
    ConversationSentiment,
    CsatSurvey,
    PostMetrics,
    ResolutionCycle,
    ResponseInterval,
)
from socialdesk.brands.models import Brand, SocialAccount
from socialdesk.conversations.models import Conversation, Message
from socialdesk.customers.models import Customer
from socialdesk.db.base import utcnow
from socialdesk.routing.models import Agent, Team

GROUPS = (
    "platform",
    "brand",
    "team",
    "agent",
    "language",
    "country",
    "issue_type",
    "sentiment",
    "day",
    "week",
    "hour",
)
ACTIVE = ("new", "open", "pending", "snoozed")
SENTIMENT_SCORE = {"negative": -1, "neutral": 0, "positive": 1}
# Upper bounds (seconds) of the distribution buckets the dashboard draws.
DURATION_BUCKETS = (
    ("< 15m", 15 * 60),
    ("15m–1h", 3600),
    ("1–4h", 4 * 3600),
    ("4–24h", 24 * 3600),
    ("1–3d", 3 * 86400),
    ("> 3d", math.inf),
)


class FilterError(ValueError):
    """A filter names something that does not exist or is malformed."""


@dataclass(slots=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    brand_id: int | None = None
    platform: str | None = None
    team_id: int | None = None
    agent_id: int | None = None
    language: str | None = None
    country: str | None = None
    business_hours: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "business_hours": self.business_hours,
        }
        for key in ("platform", "language", "country"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        out.update(self.labels)
        return out


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """ "7d", "24h", "30m", "2w" back from now, or an ISO date/time (UTC when no zone is given)."""
    now = now or utcnow()
    raw = value.strip()
    units = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    if len(raw) >= 2 and raw[-1] in units and raw[:-1].isdigit():
        return now - timedelta(seconds=int(raw[:-1]) * units[raw[-1]])
    return parse_instant(raw)


def parse_instant(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise FilterError(
            f"{value!r} is not a date or time (use 2026-11-02, 2026-11-02T09:00 or 7d)"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_filters(
    session: Session,
    *,
    since: str | None = None,
    until: str | None = None,
    brand: str | None = None,
    platform: str | None = None,
    team: str | None = None,
    agent: str | None = None,
    language: str | None = None,
    country: str | None = None,
    business_hours: bool = False,
    now: datetime | None = None,
) -> Filters:
    """Filters from user input (slugs, ids, emails), each unknown name a FilterError."""
    f = Filters(
        since=parse_since(since, now) if since else None,
        until=parse_instant(until) if until else None,
        platform=platform or None,
        language=(language or "").lower() or None,
        country=(country or "").upper() or None,
        business_hours=business_hours,
    )
    if f.since and f.until and f.until <= f.since:
        raise FilterError("until must be after since")
    if brand:
        row = session.scalar(select(Brand).where(or_(Brand.slug == brand, _id_eq(Brand.id, brand))))
        if row is None:
            raise FilterError(f"no brand {brand!r}")
        f.brand_id, f.labels["brand"] = row.id, row.slug
    if team:
        row = session.scalar(select(Team).where(or_(Team.slug == team, _id_eq(Team.id, team))))
        if row is None:
            raise FilterError(f"no team {team!r}")
        f.team_id, f.labels["team"] = row.id, row.slug
    if agent:
        row = session.scalar(select(Agent).where(or_(Agent.email == agent, _id_eq(Agent.id, agent))))
        if row is None:
            raise FilterError(f"no agent {agent!r}")
        f.agent_id, f.labels["agent"] = row.id, row.email
    return f


def _id_eq(column, value: str) -> ColumnElement[bool]:
    return column == int(value) if value.isdigit() else literal(False)


# --- expressions ------------------------------------------------------------------------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _time_key(session: Session, column, grain: str):
    if _dialect(session) == "postgresql":
        utc = func.timezone("UTC", column)
        if grain == "hour":
            return func.to_char(utc, "HH24")
        if grain == "week":
            return func.to_char(func.date_trunc("week", utc), "YYYY-MM-DD")
        return func.to_char(utc, "YYYY-MM-DD")
    if grain == "hour":
        return func.strftime("%H", column)
    if grain == "week":
        return func.date(column, "weekday 0", "-6 days")
    return func.date(column)


def _group_column(session: Session, group_by: str | None, at_column, agent_column):
    if group_by is None:
        return literal("all")
    if group_by not in GROUPS:
        raise FilterError(f"unknown grouping {group_by!r}; use one of {', '.join(GROUPS)}")
    return {
        "platform": lambda: Conversation.platform,
        "brand": lambda: Conversation.brand_id,
        "team": lambda: Conversation.team_id,
        "agent": lambda: agent_column,
        "language": lambda: Conversation.language,
        "country": lambda: func.coalesce(Customer.country, ""),
        "issue_type": lambda: Conversation.issue_type,
        "sentiment": lambda: Conversation.sentiment,
        "day": lambda: _time_key(session, at_column, "day"),
        "week": lambda: _time_key(session, at_column, "week"),
        "hour": lambda: _time_key(session, at_column, "hour"),
    }[group_by]()


def _scoped(stmt: Select, f: Filters, at_column, agent_column, needs_customer: bool) -> Select:
    if needs_customer or f.country:
        stmt = stmt.outerjoin(Customer, Customer.id == Conversation.customer_id)
    conditions = []
    if at_column is not None and f.since is not None:
        conditions.append(at_column >= f.since)
    if at_column is not None and f.until is not None:
        conditions.append(at_column < f.until)
    if f.brand_id is not None:
        conditions.append(Conversation.brand_id == f.brand_id)
    if f.platform:
        conditions.append(Conversation.platform == f.platform)
    if f.team_id is not None:
        conditions.append(Conversation.team_id == f.team_id)
    if f.agent_id is not None:
        conditions.append(agent_column == f.agent_id)
    if f.language:
        conditions.append(Conversation.language == f.language)
    if f.country:
        conditions.append(Customer.country == f.country)
    return stmt.where(and_(*conditions)) if conditions else stmt


def _labels(session: Session, group_by: str | None, keys: Iterable[Any]) -> dict[Any, str]:
    keys = [k for k in keys if k is not None]
    if group_by == "brand":
        return dict(session.execute(select(Brand.id, Brand.slug).where(Brand.id.in_(keys))).all())
    if group_by == "team":
        return dict(session.execute(select(Team.id, Team.slug).where(Team.id.in_(keys))).all())
    if group_by == "agent":
        return dict(session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(keys))).all())
    return {}


def _key(value: Any) -> str:
    return "" if value is None else str(value)


# --- statistics ---------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def duration_stats(values: list[float]) -> dict[str, Any]:
    values = sorted(values)
    n = len(values)

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    return {
        "count": n,
        # fsum: exact whatever the order the rows came in, so every path rounds alike.
        "mean_seconds": r(math.fsum(values) / n) if n else None,
        "median_seconds": r(percentile(values, 0.5)),
        "p90_seconds": r(percentile(values, 0.9)),
        "min_seconds": r(values[0]) if n else None,
        "max_seconds": r(values[-1]) if n else None,
    }


def buckets(values: Iterable[float]) -> dict[str, int]:
    out = {label: 0 for label, _ in DURATION_BUCKETS}
    for v in values:
        for label, bound in DURATION_BUCKETS:
            if v < bound:
                out[label] += 1
                break
    return out


def _grouped(
    session: Session,
    group_by: str | None,
    rows: Iterable[tuple[Any, Any]],
    summarise: Callable[[list[Any]], dict[str, Any]],
) -> dict[str, Any]:
    by_key: dict[Any, list[Any]] = defaultdict(list)
    everything: list[Any] = []
    for key, value in rows:
        by_key[key].append(value)
        everything.append(value)
    result: dict[str, Any] = {"overall": summarise(everything)}
    if group_by is not None:
        labels = _labels(session, group_by, by_key)
        result["group_by"] = group_by
        result["groups"] = [
            {"key": _key(k), "label": labels.get(k, _key(k)), **summarise(v)}
            for k, v in sorted(by_key.items(), key=lambda kv: _key(kv[0]))
        ]
    return result


# --- the KPIs -----------------------------------------------------------------------------


def response_times(
    session: Session, f: Filters, kind: str = "first", group_by: str | None = None, with_buckets: bool = False
) -> dict[str, Any]:
    """First response time (kind="first") or next response time (kind="next")."""
    value = ResponseInterval.business_seconds if f.business_hours else ResponseInterval.seconds
    at = ResponseInterval.stopped_at
    agent = ResponseInterval.agent_id
    key = _group_column(session, group_by, at, agent)
    stmt = (
        select(key, value)
        .select_from(ResponseInterval)
        .join(Conversation, Conversation.id == ResponseInterval.conversation_id)
        .where(ResponseInterval.kind == kind)
    )
    stmt = _scoped(stmt, f, at, agent, group_by == "country")

    def summarise(values: list[float]) -> dict[str, Any]:
        stats = duration_stats(values)
        if with_buckets:
            stats["buckets"] = buckets(values)
        return stats

    return {
        "metric": f"{kind}_response_time",
        **_grouped(session, group_by, session.execute(stmt).all(), summarise),
    }


def resolution_times(
    session: Session, f: Filters, group_by: str | None = None, with_buckets: bool = False
) -> dict[str, Any]:
    value = ResolutionCycle.business_seconds if f.business_hours else ResolutionCycle.seconds
    at, agent = ResolutionCycle.resolved_at, ResolutionCycle.agent_id
    key = _group_column(session, group_by, at, agent)
    stmt = select(key, value, ResolutionCycle.cycle, ResolutionCycle.gross_seconds)
    stmt = stmt.select_from(ResolutionCycle).join(
        Conversation, Conversation.id == ResolutionCycle.conversation_id
    )
    stmt = _scoped(stmt, f, at, agent, group_by == "country")

    def summarise(items: list[tuple[float, int, float]]) -> dict[str, Any]:
        stats = duration_stats([v for v, _, _ in items])
        gross = duration_stats([g for _, _, g in items])
        stats["gross_mean_seconds"] = gross["mean_seconds"]
        stats["gross_median_seconds"] = gross["median_seconds"]
        stats["after_reopen"] = sum(1 for _, c, _ in items if c > 1)
        if with_buckets:
            stats["buckets"] = buckets(v for v, _, _ in items)
        return stats

    rows = ((r[0], (r[1], r[2], r[3])) for r in session.execute(stmt))
    return {"metric": "resolution_time", **_grouped(session, group_by, rows, summarise)}


SLA_TARGETS = {
    "first_response": (ConversationFacts.sla_first_response, ConversationFacts.sla_first_response_at),
    "next_response": (ConversationFacts.sla_next_response, ConversationFacts.sla_next_response_at),
    "resolution": (ConversationFacts.sla_resolution, ConversationFacts.sla_resolution_at),
}


def sla_compliance(session: Session, f: Filters, group_by: str | None = None) -> dict[str, Any]:
    """Met and breached per SLA target, by when the outcome was decided."""
    result: dict[str, Any] = {"metric": "sla_compliance", "targets": {}}
    for target, (outcome, at) in SLA_TARGETS.items():
        key = _group_column(session, group_by, at, Conversation.assignee_id)
        stmt = (
            select(key, outcome)
            .select_from(ConversationFacts)
            .join(Conversation, Conversation.id == ConversationFacts.conversation_id)
            .where(outcome != "")
        )
        stmt = _scoped(stmt, f, at, Conversation.assignee_id, group_by == "country")
        result["targets"][target] = _grouped(session, group_by, session.execute(stmt).all(), _sla_summary)
    return result


def _sla_summary(outcomes: list[str]) -> dict[str, Any]:
    met = sum(1 for o in outcomes if o == "met")
    breached = sum(1 for o in outcomes if o == "breached")
    total = met + breached
    return {"met": met, "breached": breached, "compliance": round(met / total, 4) if total else None}


def backlog(
    session: Session, f: Filters, group_by: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Open work now: conversations not resolved or closed, and how long they have been with us."""
    now = now or utcnow()
    key = _group_column(session, group_by, Conversation.first_message_at, Conversation.assignee_id)
    stmt = select(key, Conversation.first_message_at, Conversation.waiting_since, Conversation.status).where(
        Conversation.status.in_(ACTIVE)
    )
    stmt = _scoped(
        stmt, replace(f, since=None, until=None), None, Conversation.assignee_id, group_by == "country"
    )

    def summarise(items: list[tuple[datetime, datetime | None, str]]) -> dict[str, Any]:
        return _backlog_summary(items, now)

    rows = ((r[0], (r[1], r[2], r[3])) for r in session.execute(stmt))
    return {"metric": "backlog", "as_of": now.isoformat(), **_grouped(session, group_by, rows, summarise)}


def _backlog_summary(items: list[tuple[datetime, datetime | None, str]], now: datetime) -> dict[str, Any]:
    ages = [(now - first).total_seconds() for first, _, _ in items]
    waits = [(now - w).total_seconds() for _, w, _ in items if w is not None]
    age = duration_stats(ages)
    wait = duration_stats(waits)
    return {
        "count": len(items),
        "by_status": {s: sum(1 for _, _, st in items if st == s) for s in ACTIVE},
        "age_mean_seconds": age["mean_seconds"],
        "age_median_seconds": age["median_seconds"],
        "age_p90_seconds": age["p90_seconds"],
        "age_max_seconds": age["max_seconds"],
        "waiting_on_us": wait["count"],
        "waiting_median_seconds": wait["median_seconds"],
        "age_buckets": buckets(ages),
    }


def volume(session: Session, f: Filters, group_by: str | None = None) -> dict[str, Any]:
    """New conversations (by their first message) and messages in and out (by when sent)."""
    conv_key = _group_column(session, group_by, Conversation.first_message_at, Conversation.assignee_id)
    conv_stmt = _scoped(
        select(conv_key, func.count()).select_from(Conversation).group_by(conv_key),
        f,
        Conversation.first_message_at,
        Conversation.assignee_id,
        group_by == "country",
    )
    msg_key = _group_column(session, group_by, Message.sent_at, Conversation.assignee_id)
    msg_stmt = _scoped(
        select(
            msg_key,
            func.sum(case((Message.direction == "inbound", 1), else_=0)),
            func.sum(case((Message.direction == "outbound", 1), else_=0)),
        )
        .select_from(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .group_by(msg_key),
        f,
        Message.sent_at,
        Conversation.assignee_id,
        group_by == "country",
    )
    counts: dict[Any, dict[str, int]] = defaultdict(
        lambda: {"conversations": 0, "messages_in": 0, "messages_out": 0}
    )
    for k, n in session.execute(conv_stmt):
        counts[k]["conversations"] += int(n)
    for k, n_in, n_out in session.execute(msg_stmt):
        counts[k]["messages_in"] += int(n_in or 0)
        counts[k]["messages_out"] += int(n_out or 0)
    overall = {"conversations": 0, "messages_in": 0, "messages_out": 0}
    for c in counts.values():
        for name in overall:
            overall[name] += c[name]
    result: dict[str, Any] = {"metric": "volume", "overall": overall}
    if group_by is not None:
        labels = _labels(session, group_by, counts)
        result["group_by"] = group_by
        result["groups"] = [
            {"key": _key(k), "label": labels.get(k, _key(k)), **v}
            for k, v in sorted(counts.items(), key=lambda kv: _key(kv[0]))
        ]
    return result


def volume_series(
    session: Session, f: Filters, series: str = "platform", grain: str = "day"
) -> dict[str, Any]:
    """Customer messages per day (or hour/week) split by platform or sentiment: the dashboard's lines."""
    if series not in ("platform", "sentiment", "issue_type", "language"):
        raise FilterError("series must be platform, sentiment, issue_type or language")
    time_key = _time_key(session, Message.sent_at, grain)
    split = Message.sentiment if series == "sentiment" else getattr(Conversation, series)
    if series == "issue_type":
        split = Message.issue_type
    stmt = _scoped(
        select(time_key, split, func.count())
        .select_from(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.direction == "inbound")
        .group_by(time_key, split),
        f,
        Message.sent_at,
        Conversation.assignee_id,
        False,
    )
    points: dict[str, dict[str, int]] = defaultdict(dict)
    for t, s, n in session.execute(stmt):
        points[str(t)][s or "unknown"] = int(n)
    names = sorted({s for p in points.values() for s in p})
    return {
        "metric": "volume_series",
        "series": series,
        "grain": grain,
        "names": names,
        "points": [{"t": t, **{n: points[t].get(n, 0) for n in names}} for t in sorted(points)],
    }


def csat(session: Session, f: Filters, group_by: str | None = None) -> dict[str, Any]:
    """CSAT: the share of answers rating 4 or 5, and the average rating, by when answered."""
    at = CsatSurvey.answered_at
    key = _group_column(session, group_by, at, Conversation.assignee_id)
    stmt = (
        select(key, CsatSurvey.rating)
        .select_from(CsatSurvey)
        .join(Conversation, Conversation.id == CsatSurvey.conversation_id)
        .where(CsatSurvey.rating.is_not(None))
    )
    stmt = _scoped(stmt, f, at, Conversation.assignee_id, group_by == "country")
    sent_key = _group_column(session, group_by, CsatSurvey.sent_at, Conversation.assignee_id)
    sent_stmt = _scoped(
        select(sent_key, func.count())
        .select_from(CsatSurvey)
        .join(Conversation, Conversation.id == CsatSurvey.conversation_id)
        .where(CsatSurvey.sent_at.is_not(None))
        .group_by(sent_key),
        f,
        CsatSurvey.sent_at,
        Conversation.assignee_id,
        group_by == "country",
    )
    sent = {k: int(n) for k, n in session.execute(sent_stmt)}
    result = {"metric": "csat", **_grouped(session, group_by, session.execute(stmt).all(), _csat_summary)}
    result["overall"]["surveys_sent"] = sum(sent.values())
    for g in result.get("groups", []):
        g["surveys_sent"] = next((n for k, n in sent.items() if _key(k) == g["key"]), 0)
    return result


def _csat_summary(ratings: list[int], distribution: bool = True) -> dict[str, Any]:
    n = len(ratings)
    out: dict[str, Any] = {
        "answers": n,
        "csat": round(sum(1 for r in ratings if r >= 4) / n, 4) if n else None,
        "average_rating": round(sum(ratings) / n, 3) if n else None,
    }
    if distribution:
        out["distribution"] = {str(i): sum(1 for r in ratings if r == i) for i in range(1, 6)}
    return out


def sentiment_shift(session: Session, f: Filters, group_by: str | None = None) -> dict[str, Any]:
    """Customer sentiment in the first vs the last message, for conversations with two or more."""
    at = ConversationSentiment.last_at
    key = _group_column(session, group_by, at, Conversation.assignee_id)
    stmt = (
        select(key, ConversationSentiment.first_sentiment, ConversationSentiment.last_sentiment)
        .select_from(ConversationSentiment)
        .join(Conversation, Conversation.id == ConversationSentiment.conversation_id)
        .where(ConversationSentiment.last_at > ConversationSentiment.first_at)
    )
    stmt = _scoped(stmt, f, at, Conversation.assignee_id, group_by == "country")
    rows = ((r[0], (r[1], r[2])) for r in session.execute(stmt))
    return {"metric": "sentiment_shift", **_grouped(session, group_by, rows, _shift_summary)}


def _mean_shift(pairs: list[tuple[str, str]]) -> float | None:
    """``_shift_summary(pairs)["mean_shift"]`` alone."""
    score = SENTIMENT_SCORE.get
    return round(sum(score(b, 0) - score(a, 0) for a, b in pairs) / len(pairs), 4) if pairs else None


def _shift_summary(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    scored = [(SENTIMENT_SCORE.get(a, 0), SENTIMENT_SCORE.get(b, 0)) for a, b in pairs]
    n = len(scored)
    return {
        "conversations": n,
        "mean_shift": round(sum(b - a for a, b in scored) / n, 4) if n else None,
        "improved": sum(1 for a, b in scored if b > a),
        "worsened": sum(1 for a, b in scored if b < a),
        "unchanged": sum(1 for a, b in scored if b == a),
        "negative_first_share": round(sum(1 for a, _ in scored if a < 0) / n, 4) if n else None,
        "negative_last_share": round(sum(1 for _, b in scored if b < 0) / n, 4) if n else None,
    }


def engagement(session: Session, f: Filters, group_by: str | None = None) -> dict[str, Any]:
    """Engagement rate of the brand's own posts: (likes + replies + shares) / impressions."""
    if group_by not in (None, "platform", "brand", "day", "week"):
        raise FilterError("engagement groups by platform, brand, day or week only")
    at = Message.sent_at
    key = {
        None: literal("all"),
        "platform": Message.platform,
        "brand": SocialAccount.brand_id,
        "day": _time_key(session, at, "day"),
        "week": _time_key(session, at, "week"),
    }[group_by]
    stmt = (
        select(key, PostMetrics.impressions, PostMetrics.likes + PostMetrics.replies + PostMetrics.shares)
        .select_from(PostMetrics)
        .join(Message, Message.id == PostMetrics.message_id)
        .join(SocialAccount, SocialAccount.id == Message.account_id)
    )
    conditions = []
    if f.since:
        conditions.append(at >= f.since)
    if f.until:
        conditions.append(at < f.until)
    if f.brand_id is not None:
        conditions.append(SocialAccount.brand_id == f.brand_id)
    if f.platform:
        conditions.append(Message.platform == f.platform)
    if conditions:
        stmt = stmt.where(and_(*conditions))

    def summarise(items: list[tuple[int, int]]) -> dict[str, Any]:
        impressions = sum(i for i, _ in items)
        # Posts whose platform gave no impressions (X v1.1, Instagram) count toward engagements
        # but not toward the rate: it would be understated.
        measured = [(i, e) for i, e in items if i > 0]
        engaged = sum(e for _, e in measured)
        return {
            "posts": len(items),
            "posts_with_impressions": len(measured),
            "impressions": impressions,
            "engagements": sum(e for _, e in items),
            "engagement_rate": round(engaged / impressions, 4) if impressions else None,
        }

    rows = ((r[0], (int(r[1]), int(r[2]))) for r in session.execute(stmt))
    return {"metric": "engagement", **_grouped(session, group_by, rows, summarise)}


def summary(session: Session, f: Filters, now: datetime | None = None) -> dict[str, Any]:
    """Every KPI's overall figure for one filter set (the report's headline)."""
    return {
        "filters": f.describe(),
        "volume": volume(session, f)["overall"],
        "first_response_time": response_times(session, f, "first")["overall"],
        "next_response_time": response_times(session, f, "next")["overall"],
        "resolution_time": resolution_times(session, f)["overall"],
        "sla_compliance": {t: v["overall"] for t, v in sla_compliance(session, f)["targets"].items()},
        "backlog": backlog(session, f, now=now)["overall"],
        "csat": csat(session, f)["overall"],
        "sentiment_shift": sentiment_shift(session, f)["overall"],
        "engagement": engagement(session, f)["overall"],
    }


def breakdown(session: Session, f: Filters, group_by: str) -> list[dict[str, Any]]:
    """One row per group with the headline figures: the per-agent and language/region tables."""
    rows: dict[str, dict[str, Any]] = {}

    def merge(result: dict[str, Any], fields: dict[str, str]) -> None:
        for g in result.get("groups", []):
            row = rows.setdefault(g["key"], {"key": g["key"], "label": g["label"]})
            for src, dst in fields.items():
                row[dst] = g.get(src)

    merge(volume(session, f, group_by), {"conversations": "conversations", "messages_in": "messages_in"})
    merge(
        response_times(session, f, "first", group_by),
        {
            "count": "first_responses",
            "median_seconds": "frt_median_seconds",
            "mean_seconds": "frt_mean_seconds",
        },
    )
    merge(
        resolution_times(session, f, group_by),
        {"count": "resolutions", "median_seconds": "resolution_median_seconds"},
    )
    sla = sla_compliance(session, f, group_by)["targets"]["first_response"]
    merge(sla, {"compliance": "frt_sla_compliance"})
    merge(
        csat(session, f, group_by),
        {"answers": "csat_answers", "csat": "csat", "average_rating": "average_rating"},
    )
    merge(sentiment_shift(session, f, group_by), {"mean_shift": "sentiment_shift"})
    columns = [
        "conversations",
        "messages_in",
        "first_responses",
        "frt_median_seconds",
        "frt_mean_seconds",
        "resolutions",
        "resolution_median_seconds",
        "frt_sla_compliance",
        "csat_answers",
        "csat",
        "average_rating",
        "sentiment_shift",
    ]
    return [
        {"key": r["key"], "label": r["label"], **{c: r.get(c) for c in columns}}
        for r in sorted(rows.values(), key=lambda r: r["key"])
    ]


# --- the report in one pass ---------------------------------------------------------------
#
# summary() + breakdown() ask the database once per figure and per grouping. The report
# needs the headline and four breakdowns, so here each figure is read once with every
# grouping column attached, and grouped in Python: the same numbers in a fraction of the scans.

REPORT_DIMS = ("platform", "agent", "language", "country")


def _dims(agent_column) -> list:
    return [Conversation.platform, agent_column, Conversation.language, func.coalesce(Customer.country, "")]


def _by_dim(rows: list, dims: tuple[str, ...], n_values: int) -> dict[str | None, dict[Any, list]]:
    """{None: {"all": [values]}, dim: {key: [values]}} from rows of (dims..., values...)."""
    out: dict[str | None, dict[Any, list]] = {None: {"all": []}, **{d: defaultdict(list) for d in dims}}
    width = len(REPORT_DIMS)
    targets = [(out[d], REPORT_DIMS.index(d)) for d in dims]
    everything = out[None]["all"]
    for row in rows:
        value = row[width] if n_values == 1 else tuple(row[width:])
        everything.append(value)
        for groups, i in targets:
            groups[row[i]].append(value)
    return out


@dataclass(slots=True)
class ReportParts:
    """The rows the report is assembled from, each led by the REPORT_DIMS values.

    ``gather_parts`` reads them with SQL from the rollups; ``analytics.reference`` builds the
    same rows by replaying every conversation's events, so the two can be compared exactly.
    """

    responses: list[tuple] = field(default_factory=list)  # dims, kind, seconds
    resolutions: list[tuple] = field(default_factory=list)  # dims, seconds, cycle, gross seconds
    sla: dict[str, list[tuple]] = field(default_factory=dict)  # target -> dims, outcome
    ratings: list[tuple] = field(default_factory=list)  # dims, rating
    surveys_sent: int = 0
    shifts: list[tuple] = field(default_factory=list)  # dims, first sentiment, last sentiment
    new_conversations: list[tuple] = field(default_factory=list)  # dims
    messages: list[tuple] = field(default_factory=list)  # dims, inbound count, outbound count
    backlog: list[tuple] = field(default_factory=list)  # first message, waiting since, status (no dims)


# SQLite joins by rowid into the wide conversation and customer rows unless told to use the
# narrow covering indexes (SQLAlchemy renders no table hints for SQLite, so they are added to
# the compiled text). PostgreSQL's planner needs no help.
_SQLITE_HINTS = {
    "JOIN conversation ON": "JOIN conversation INDEXED BY ix_analytics_conversation_dims ON",
    "JOIN customer ON": "JOIN customer INDEXED BY ix_analytics_customer_country ON",
}


def _fetch(session: Session, stmt: Select, hints: dict[str, str] | None = None) -> list[tuple]:
    """All rows of ``stmt`` as plain tuples; on SQLite read through the covering indexes."""
    if _dialect(session) != "sqlite":
        return [tuple(r) for r in session.execute(stmt).all()]
    sql = str(stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    for plain, hinted in {**_SQLITE_HINTS, **(hints or {})}.items():
        sql = sql.replace(plain, hinted)
    try:  # a failed statement leaves a SQLite transaction usable: no savepoint needed
        # One fetchall: iterating a text() result fetches row by row.
        return [tuple(r) for r in session.execute(text(sql)).all()]
    except OperationalError:  # an index is missing (an old schema): let the planner choose
        return [tuple(r) for r in session.execute(stmt).all()]


def _instant(value: Any) -> datetime | None:
    """A datetime from a hinted SQLite read (stored as UTC text) or from PostgreSQL."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value + "+00:00")


def gather_parts(session: Session, f: Filters, now: datetime | None = None) -> ReportParts:
    """The report's rows from the rollups: one index-only range read per figure."""
    parts = ReportParts()
    conv_agent = Conversation.assignee_id

    def scoped(stmt: Select, at, agent) -> Select:
        return _scoped(stmt, f, at, agent, True)

    # Response times: first and next in one read.
    value = ResponseInterval.business_seconds if f.business_hours else ResponseInterval.seconds
    parts.responses = _fetch(
        session,
        scoped(
            select(*_dims(ResponseInterval.agent_id), ResponseInterval.kind, value)
            .select_from(ResponseInterval)
            .join(Conversation, Conversation.id == ResponseInterval.conversation_id)
            # Both kinds named, so the (kind, stopped_at, ...) index serves the date range.
            .where(ResponseInterval.kind.in_(("first", "next"))),
            ResponseInterval.stopped_at,
            ResponseInterval.agent_id,
        ),
    )
    value = ResolutionCycle.business_seconds if f.business_hours else ResolutionCycle.seconds
    parts.resolutions = _fetch(
        session,
        scoped(
            select(
                *_dims(ResolutionCycle.agent_id),
                value,
                ResolutionCycle.cycle,
                ResolutionCycle.gross_seconds,
            )
            .select_from(ResolutionCycle)
            .join(Conversation, Conversation.id == ResolutionCycle.conversation_id),
            ResolutionCycle.resolved_at,
            ResolutionCycle.agent_id,
        ),
    )
    # SLA: one indexed range read per target (when its outcome was decided).
    for target, (outcome, at) in SLA_TARGETS.items():
        parts.sla[target] = _fetch(
            session,
            scoped(
                select(*_dims(conv_agent), outcome)
                .select_from(ConversationFacts)
                .join(Conversation, Conversation.id == ConversationFacts.conversation_id)
                .where(outcome != ""),
                at,
                conv_agent,
            ),
        )
    parts.ratings = _fetch(
        session,
        scoped(
            select(*_dims(conv_agent), CsatSurvey.rating)
            .select_from(CsatSurvey)
            .join(Conversation, Conversation.id == CsatSurvey.conversation_id)
            .where(CsatSurvey.rating.is_not(None)),
            CsatSurvey.answered_at,
            conv_agent,
        ),
    )
    parts.surveys_sent = int(
        session.scalar(
            scoped(
                select(func.count())
                .select_from(CsatSurvey)
                .join(Conversation, Conversation.id == CsatSurvey.conversation_id)
                .where(CsatSurvey.sent_at.is_not(None)),
                CsatSurvey.sent_at,
                conv_agent,
            )
        )
        or 0
    )
    parts.shifts = _fetch(
        session,
        scoped(
            select(
                *_dims(conv_agent),
                ConversationSentiment.first_sentiment,
                ConversationSentiment.last_sentiment,
            )
            .select_from(ConversationSentiment)
            .join(Conversation, Conversation.id == ConversationSentiment.conversation_id)
            .where(ConversationSentiment.last_at > ConversationSentiment.first_at),
            ConversationSentiment.last_at,
            conv_agent,
        ),
    )
    parts.new_conversations = _fetch(
        session,
        scoped(
            select(*_dims(conv_agent)).select_from(Conversation), Conversation.first_message_at, conv_agent
        ),
        {"FROM conversation ": "FROM conversation INDEXED BY ix_analytics_conversation_first "},
    )
    # Messages: counted per conversation along the covering send-time index first, then per
    # combination of the grouping columns; summed up per dimension in assemble().
    per_conversation = (
        select(
            Message.conversation_id.label("conversation_id"),
            func.sum(case((Message.direction == "inbound", 1), else_=0)).label("n_in"),
            func.sum(case((Message.direction == "outbound", 1), else_=0)).label("n_out"),
        )
        .where(Message.conversation_id.is_not(None))
        .group_by(Message.conversation_id)
    )
    if f.since is not None:
        per_conversation = per_conversation.where(Message.sent_at >= f.since)
    if f.until is not None:
        per_conversation = per_conversation.where(Message.sent_at < f.until)
    counted = per_conversation.subquery("counted")
    msg_dims = _dims(conv_agent)
    parts.messages = _fetch(
        session,
        scoped(
            select(*msg_dims, func.sum(counted.c.n_in), func.sum(counted.c.n_out))
            .select_from(counted)
            .join(Conversation, Conversation.id == counted.c.conversation_id)
            .group_by(*msg_dims),
            None,
            conv_agent,
        ),
    )
    # Backlog: the headline only (no breakdown), so no dimensions; the customer only to filter.
    backlog = _scoped(
        select(Conversation.first_message_at, Conversation.waiting_since, Conversation.status)
        .select_from(Conversation)
        .where(Conversation.status.in_(ACTIVE)),
        replace(f, since=None, until=None),
        None,
        conv_agent,
        False,
    )
    parts.backlog = [(_instant(a), _instant(b), c) for a, b, c in _fetch(session, backlog)]
    return parts


def report_figures(
    session: Session, f: Filters, dims: tuple[str, ...] = REPORT_DIMS, now: datetime | None = None
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """(summary, {dim: breakdown rows}) equal to summary(f) and breakdown(f, dim) for each dim."""
    now = now or utcnow()
    return assemble(session, f, gather_parts(session, f, now), dims, now)


def assemble(
    session: Session, f: Filters, parts: ReportParts, dims: tuple[str, ...], now: datetime
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The report's headline and tables from its rows (whichever way they were gathered)."""
    rows = parts.responses
    first = _by_dim([r[:4] + (r[5],) for r in rows if r[4] == "first"], dims, 1)
    nxt = _by_dim([r[:4] + (r[5],) for r in rows if r[4] == "next"], dims, 1)
    resolutions = _by_dim(parts.resolutions, dims, 3)
    sla = {target: _by_dim(r, dims, 1) for target, r in parts.sla.items()}
    ratings = _by_dim(parts.ratings, dims, 1)
    surveys_sent = parts.surveys_sent
    shifts = _by_dim(parts.shifts, dims, 2)
    new_conversations = _by_dim([tuple(r) + (1,) for r in parts.new_conversations], dims, 1)
    messages = _by_dim(parts.messages, dims, 2)
    backlog_rows = parts.backlog

    def volume_of(dim: str | None, key: Any) -> dict[str, int]:
        msgs = messages[dim].get(key, [])
        return {
            "conversations": len(new_conversations[dim].get(key, [])),
            "messages_in": sum(int(a or 0) for a, _ in msgs),
            "messages_out": sum(int(b or 0) for _, b in msgs),
        }

    def resolution_summary(items: list[tuple[float, int, float]]) -> dict[str, Any]:
        stats = duration_stats([v for v, _, _ in items])
        gross = duration_stats([g for _, _, g in items])
        stats["gross_mean_seconds"] = gross["mean_seconds"]
        stats["gross_median_seconds"] = gross["median_seconds"]
        stats["after_reopen"] = sum(1 for _, c, _ in items if c > 1)
        return stats

    csat_overall = _csat_summary(ratings[None]["all"])
    csat_overall["surveys_sent"] = int(surveys_sent or 0)
    backlog_overall = _backlog_summary(backlog_rows, now)
    summary_out = {
        "filters": f.describe(),
        "volume": volume_of(None, "all"),
        "first_response_time": duration_stats(first[None]["all"]),
        "next_response_time": duration_stats(nxt[None]["all"]),
        "resolution_time": resolution_summary(resolutions[None]["all"]),
        "sla_compliance": {t: _sla_summary(v[None]["all"]) for t, v in sla.items()},
        "backlog": backlog_overall,
        "csat": csat_overall,
        "sentiment_shift": _shift_summary(shifts[None]["all"]),
        "engagement": engagement(session, f)["overall"],
    }
    tables: dict[str, list[dict[str, Any]]] = {}
    for dim in dims:
        volume_keys = set(new_conversations[dim]) | set(messages[dim])
        keys = volume_keys | set(first[dim]) | set(resolutions[dim]) | set(sla["first_response"][dim])
        keys |= set(ratings[dim]) | set(shifts[dim])
        labels = _labels(session, dim, keys)
        rows_out = []
        for key in keys:
            frt = duration_stats(first[dim][key]) if key in first[dim] else None
            res = (
                duration_stats([v for v, _, _ in resolutions[dim][key]]) if key in resolutions[dim] else None
            )
            sla_row = (
                _sla_summary(sla["first_response"][dim][key]) if key in sla["first_response"][dim] else None
            )
            # The tables show a few fields of these: computed alone (same formulas), not the
            # whole summary per key (hundreds of keys per report).
            cs = _csat_summary(ratings[dim][key], distribution=False) if key in ratings[dim] else None
            sh = {"mean_shift": _mean_shift(shifts[dim][key])} if key in shifts[dim] else None
            vol = volume_of(dim, key) if key in volume_keys else None
            rows_out.append(
                {
                    "key": _key(key),
                    "label": labels.get(key, _key(key)),
                    "conversations": vol["conversations"] if vol else None,
                    "messages_in": vol["messages_in"] if vol else None,
                    "first_responses": frt["count"] if frt else None,
                    "frt_median_seconds": frt["median_seconds"] if frt else None,
                    "frt_mean_seconds": frt["mean_seconds"] if frt else None,
                    "resolutions": res["count"] if res else None,
                    "resolution_median_seconds": res["median_seconds"] if res else None,
                    "frt_sla_compliance": sla_row["compliance"] if sla_row else None,
                    "csat_answers": cs["answers"] if cs else None,
                    "csat": cs["csat"] if cs else None,
                    "average_rating": cs["average_rating"] if cs else None,
                    "sentiment_shift": sh["mean_shift"] if sh else None,
                }
            )
        tables[dim] = sorted(rows_out, key=lambda r: r["key"])
    return summary_out, tables
