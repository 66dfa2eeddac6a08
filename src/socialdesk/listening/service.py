"""Listening rules, rule previews over history, mentions, spike counters and the pipeline step."""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import TextClause, bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from socialdesk.brands.models import Brand, SocialAccount
from socialdesk.conversations.models import Message
from socialdesk.customers.models import Customer
from socialdesk.db.base import utcnow
from socialdesk.listening import alerts, emerging, spikes
from socialdesk.listening.matcher import Document, Matcher
from socialdesk.listening.models import (
    COUNT_SHARDS,
    RULE_KINDS,
    ListeningRule,
    Mention,
    MentionRule,
    PhraseHit,
    SeriesCount,
)
from socialdesk.listening.query import QueryError, parse


class RuleError(ValueError):
    """Bad rule input; `details` carries the query error's position where there is one."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {"error": message}


SPIKE_CONFIG = spikes.SpikeConfig()
EMERGING_CONFIG = emerging.EmergingConfig()

# --- rules ------------------------------------------------------------------------------------


def _brand(session: Session, brand: str | int) -> Brand:
    row = (
        session.get(Brand, brand)
        if isinstance(brand, int)
        else session.scalar(select(Brand).where(Brand.slug == brand))
    )
    if row is None:
        raise RuleError(f"brand {brand!r} does not exist")
    return row


def check_query(query: str) -> None:
    try:
        parse(query)
    except QueryError as exc:
        raise RuleError(f"invalid query: {exc.reason} at position {exc.position}", exc.to_dict()) from exc


def _check_fields(name: str | None, kind: str | None) -> None:
    if name is not None and not name.strip():
        raise RuleError("a rule needs a name")
    if kind is not None and kind not in RULE_KINDS:
        raise RuleError(f"unknown rule kind {kind!r}; expected one of {', '.join(RULE_KINDS)}")


def create_rule(
    session: Session, *, brand: str | int, name: str, query: str, kind: str = "brand", actor: str = ""
) -> ListeningRule:
    _check_fields(name, kind)
    check_query(query)
    b = _brand(session, brand)
    name = name.strip()
    if session.scalar(
        select(ListeningRule.id).where(ListeningRule.brand_id == b.id, ListeningRule.name == name)
    ):
        raise RuleError(f"brand {b.slug!r} already has a rule named {name!r}")
    rule = ListeningRule(brand_id=b.id, name=name.strip(), kind=kind, query=query, created_by=actor)
    session.add(rule)
    session.flush()
    return rule


def update_rule(session: Session, rule: ListeningRule, **changes: Any) -> ListeningRule:
    _check_fields(changes.get("name"), changes.get("kind"))
    if changes.get("query") is not None:
        check_query(changes["query"])
    new_name = (changes.get("name") or "").strip()
    if (
        new_name
        and new_name != rule.name
        and session.scalar(
            select(ListeningRule.id).where(
                ListeningRule.brand_id == rule.brand_id, ListeningRule.name == new_name
            )
        )
    ):
        raise RuleError(f"this brand already has a rule named {new_name!r}")
    if new_name:
        changes["name"] = new_name
    for key in ("name", "kind", "query", "active"):
        if changes.get(key) is not None:
            setattr(rule, key, changes[key])
    rule.updated_at = utcnow()
    session.flush()
    return rule


def delete_rule(session: Session, rule: ListeningRule) -> None:
    session.delete(rule)
    session.flush()


# --- the compiled matcher of all active rules, cached per process -----------------------------


@dataclass(slots=True)
class RuleInfo:
    id: int
    brand_id: int
    kind: str
    name: str
    query: str


_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple[Any, ...], Matcher, dict[int, RuleInfo]]] = {}


def active_matcher(session: Session) -> tuple[Matcher, dict[int, RuleInfo]]:
    """All active rules compiled once; recompiled when any rule is added, changed or removed."""
    version = tuple(
        session.execute(
            select(
                func.count(ListeningRule.id), func.max(ListeningRule.updated_at), func.max(ListeningRule.id)
            )
        ).one()
    )
    key = str(session.get_bind().url)
    with _cache_lock:
        hit = _cache.get(key)
        if hit and hit[0] == version:
            return hit[1], hit[2]
    rows = session.scalars(select(ListeningRule).where(ListeningRule.active.is_(True))).all()
    infos = {r.id: RuleInfo(r.id, r.brand_id, r.kind, r.name, r.query) for r in rows}
    compiled: list[tuple[int, str]] = []
    for r in rows:
        try:
            parse(r.query)
            compiled.append((r.id, r.query))
        except QueryError:  # pragma: no cover - rules are validated on save
            continue
    matcher = Matcher(compiled)
    with _cache_lock:
        _cache[key] = (version, matcher, infos)
    return matcher, infos


def document_for(message: Message, country: str | None = None) -> Document:
    if country is None and message.customer_id is not None:
        customer = message.customer
        country = customer.country if customer is not None else ""
    return Document.of(
        message.text or "",
        lang=message.language,
        platform=message.platform,
        author=message.author_handle,
        country=country,
        sentiment=message.sentiment,
        issue=message.issue_type,
    )


# --- preview ----------------------------------------------------------------------------------

_SINCE = re.compile(r"^\s*(\d{1,4})\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str) -> timedelta:
    m = _SINCE.match(value or "")
    if not m:
        raise RuleError(f"invalid period {value!r}: expected a number and a unit, e.g. 30m, 12h, 7d, 2w")
    delta = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if delta <= timedelta(0) or delta > timedelta(days=366):
        raise RuleError(f"invalid period {value!r}: between 1 minute and 366 days")
    return delta


def preview(
    session: Session,
    query: str,
    *,
    since: str = "7d",
    brand: str | int | None = None,
    now: datetime | None = None,
    samples: int = 5,
    limit: int = 200_000,
) -> dict[str, Any]:
    """Run a query over stored inbound messages: how many would it have matched, and which."""
    check_query(query)
    period = parse_since(since)
    now = now or utcnow()
    matcher = Matcher([(0, query)])
    stmt = (
        select(Message, Customer.country)
        .outerjoin(Customer, Customer.id == Message.customer_id)
        .where(Message.direction == "inbound", Message.sent_at >= now - period, Message.sent_at <= now)
        .order_by(Message.sent_at.desc())
        .limit(limit)
    )
    if brand is not None:
        b = _brand(session, brand)
        stmt = stmt.join(SocialAccount, SocialAccount.id == Message.account_id).where(
            SocialAccount.brand_id == b.id
        )
    scanned = matched = 0
    found: list[dict[str, Any]] = []
    per_day: dict[str, int] = {}
    for message, country in session.execute(stmt.execution_options(yield_per=1000)):
        scanned += 1
        if matcher.match(document_for(message, country or "")):
            matched += 1
            day = message.sent_at.date().isoformat()
            per_day[day] = per_day.get(day, 0) + 1
            if len(found) < samples:
                found.append(_message_summary(message))
    return {
        "query": query,
        "since": since,
        "from": (now - period).isoformat(),
        "to": now.isoformat(),
        "scanned": scanned,
        "matched": matched,
        "per_day": dict(sorted(per_day.items())),
        "samples": found,
        "truncated": scanned >= limit,
    }


def _message_summary(message: Message) -> dict[str, Any]:
    return {
        "message_id": message.id,
        "conversation_id": message.conversation_id,
        "platform": message.platform,
        "author": message.author_handle,
        "text": (message.text or "")[:280],
        "sent_at": message.sent_at.isoformat(),
        "sentiment": message.sentiment,
        "kind": message.kind,
    }


# --- storage behind the detectors --------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _sums_statement(n: int) -> TextClause:
    """SELECT of n range sums over listening_count, built once per n (building ~200 subqueries
    with the ORM on every call costs more than running them)."""
    table = SeriesCount.__tablename__
    parts = [
        f"(SELECT COALESCE(SUM(count), 0) FROM {table} WHERE series = :series "
        f"AND bucket >= :a{i} AND bucket < :b{i})"
        for i in range(n)
    ]
    bucket_type = SeriesCount.__table__.c.bucket.type
    binds = [bindparam(f"{x}{i}", type_=bucket_type) for i in range(n) for x in "ab"]
    return text("SELECT " + ", ".join(parts)).bindparams(*binds)


def _dialect_insert(session: Session) -> Any:
    """The dialect's INSERT with ON CONFLICT (SQLite and PostgreSQL spell it the same)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"listening counters need SQLite or PostgreSQL, not {name}")


class DbCounts:
    """SeriesCount rows as a spikes.CountStore."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, series: str, at: datetime, n: int = 1, *, shard: int = 0) -> None:
        self.add_many([series], at, n, shard=shard)

    def add_many(self, series: list[str], at: datetime, n: int = 1, *, shard: int = 0) -> None:
        """Add n to each series' minute of `at`, in one atomic upsert in the caller's transaction
        (count = count + n in the database: never a value computed here, which concurrent
        workers would overwrite; a new row is inserted or added to, never a duplicate-key error).
        Rows go in sorted order, so two transactions lock shared rows in the same order."""
        if not series:
            return
        bucket = spikes.floor_minute(at)
        shard %= COUNT_SHARDS
        rows = [{"series": s, "bucket": bucket, "shard": shard, "count": n} for s in sorted(set(series))]
        insert = _dialect_insert(self.session)
        stmt = insert(SeriesCount).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["series", "bucket", "shard"],
            set_={"count": SeriesCount.count + stmt.excluded["count"]},
        )
        self.session.execute(stmt)

    def total(self, series: str, start: datetime, end: datetime) -> int:
        return (
            self.session.scalar(
                select(func.coalesce(func.sum(SeriesCount.count), 0)).where(
                    SeriesCount.series == series, SeriesCount.bucket >= start, SeriesCount.bucket < end
                )
            )
            or 0
        )

    def totals(self, series: str, ranges: list[tuple[datetime, datetime]]) -> list[int]:
        """All ranges in one statement: a summing subquery per range, each an index range scan,
        so only the sums travel (a baseline reads up to ~200 ranges over 28 days of minutes)."""
        if not ranges:
            return []
        params: dict[str, Any] = {"series": series}
        for i, (a, b) in enumerate(ranges):
            params[f"a{i}"], params[f"b{i}"] = a, b
        return [int(v or 0) for v in self.session.execute(_sums_statement(len(ranges)), params).one()]

    def history_start(self, series: str) -> datetime | None:
        return self.session.scalar(select(func.min(SeriesCount.bucket)).where(SeriesCount.series == series))


class DbPhrases:
    """PhraseHit rows as an emerging.PhraseStore."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def hits(self, phrase: str, start: datetime, end: datetime) -> list[tuple[int, str]]:
        rows = self.session.execute(
            select(PhraseHit.message_id, PhraseHit.author).where(
                PhraseHit.phrase == phrase, PhraseHit.at >= start, PhraseHit.at < end
            )
        ).all()
        return [(m, a) for m, a in rows]

    def count(self, phrase: str, start: datetime, end: datetime) -> int:
        return (
            self.session.scalar(
                select(func.count(PhraseHit.id)).where(
                    PhraseHit.phrase == phrase, PhraseHit.at >= start, PhraseHit.at < end
                )
            )
            or 0
        )

    def history_start(self) -> datetime | None:
        return self.session.scalar(select(func.min(PhraseHit.at)))

    def phrases_of(self, message_ids: list[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {m: [] for m in message_ids}
        for m, p in self.session.execute(
            select(PhraseHit.message_id, PhraseHit.phrase).where(PhraseHit.message_id.in_(message_ids))
        ):
            out[m].append(p)
        return out


# --- the pipeline step ------------------------------------------------------------------------

# Each series is assessed at most once per 15 s of message time per database: hot topics send
# many messages a minute, and a burst that is over within one minute must still be assessed
# after its first few messages, not only on the first.
ASSESS_EVERY = timedelta(seconds=15)
_assessed: dict[tuple[str, str], datetime] = {}


def _due(session: Session, series: str, at: datetime) -> bool:
    key = (str(session.get_bind().url), series)
    slot = at - timedelta(seconds=at.second % ASSESS_EVERY.seconds, microseconds=at.microsecond)
    if _assessed.get(key) == slot:
        return False
    _assessed[key] = slot
    if len(_assessed) > 200_000:
        _assessed.clear()
    return True


WARM_UP = timedelta(hours=1)
WARM_UP_MESSAGES = 100


def _warming_up(counts: DbCounts, brand_series: str, at: datetime) -> bool:
    """Too little history for any baseline: under an hour old, or under 100 earlier messages."""
    first = counts.history_start(brand_series)
    if first is None or at - first < WARM_UP:
        return True
    earlier = counts.total(brand_series, first, at - timedelta(minutes=SPIKE_CONFIG.window_minutes))
    return earlier < WARM_UP_MESSAGES


def listening_step(session: Session, message: Message) -> None:
    """Match every inbound message against the rules, store its mention, count, detect, route."""
    if message.direction != "inbound" or message.processed_at is not None:
        return
    from socialdesk.listening import crisis

    matcher, infos = active_matcher(session)
    doc = document_for(message)
    matched = [int(r) for r in matcher.match(doc)] if len(matcher) else []
    account = session.get(SocialAccount, message.account_id)
    brand_id = account.brand_id if account is not None else None
    at = message.sent_at
    if matched:
        mention = Mention(message_id=message.id, brand_id=brand_id, sent_at=at, sentiment=message.sentiment)
        mention.rules = [MentionRule(rule_id=r, sent_at=at) for r in matched]
        session.add(mention)
    counts = DbCounts(session)
    series = [f"rule:{r}" for r in matched]
    share_pairs: list[tuple[str, str]] = []
    if brand_id is not None:
        series.append(f"brand:{brand_id}:all")
        if message.sentiment == "negative":
            series.append(f"brand:{brand_id}:negative")
        if message.issue_type:
            series.append(f"brand:{brand_id}:issue:{message.issue_type}")
        share_pairs.append((f"brand:{brand_id}:all", f"brand:{brand_id}:negative"))
    # One upsert for all of the message's series, in the transaction that marks it processed
    # (exactly once in effect on redelivery), on the message's own shard of each minute row.
    counts.add_many(series, at, shard=message.id)
    session.flush()
    if brand_id is not None and _warming_up(counts, f"brand:{brand_id}:all", at):
        # A brand that has just started sending has no baseline at all: every busy topic would
        # look like a spike. Count, but raise no volume spike until there is some history.
        series, share_pairs = [], []
    for s in series:
        if s.endswith(":all") or s.endswith(":negative") or not _due(session, s, at):
            continue
        finding = spikes.assess(counts, s, at + spikes.MINUTE, SPIKE_CONFIG)
        if finding is not None:
            rule = infos.get(int(s.split(":")[1])) if s.startswith("rule:") else None
            alerts.raise_spike(session, finding, brand_id=rule.brand_id if rule else brand_id, rule=rule)
    for all_s, neg_s in share_pairs:
        if message.sentiment == "negative" and _due(session, neg_s, at):
            finding = spikes.assess_share(counts, all_s, neg_s, at + spikes.MINUTE, SPIKE_CONFIG)
            if finding is not None:
                alerts.raise_spike(session, finding, brand_id=brand_id, rule=None)
    if message.sentiment == "negative" and not matched:
        _emerging(session, message, brand_id)
    crisis.apply_to_message(session, message, doc)


def _emerging(session: Session, message: Message, brand_id: int | None) -> None:
    phrases = emerging.key_phrases(message.text or "")
    if not phrases:
        return
    for p in phrases:
        session.add(
            PhraseHit(
                phrase=p[:120],
                message_id=message.id,
                brand_id=brand_id,
                author=message.author_handle,
                at=message.sent_at,
            )
        )
    session.flush()
    store = DbPhrases(session)
    now = message.sent_at + timedelta(seconds=1)
    for p in phrases:
        if not _due(session, f"phrase:{p}", message.sent_at):
            continue
        issue = emerging.assess_phrase(store, p[:120], now, EMERGING_CONFIG)
        if issue is not None:  # phrases of an issue already alerted on update that alert
            alerts.raise_emerging(session, issue, brand_id=brand_id)


# --- mentions ---------------------------------------------------------------------------------


def list_mentions(
    session: Session,
    *,
    rule_id: int | None = None,
    brand: str | int | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    stmt = select(Mention, Message).join(Message, Message.id == Mention.message_id)
    if rule_id is not None:
        stmt = stmt.where(
            Mention.id.in_(select(MentionRule.mention_id).where(MentionRule.rule_id == rule_id))
        )
    if brand is not None:
        stmt = stmt.where(Mention.brand_id == _brand(session, brand).id)
    if since is not None:
        stmt = stmt.where(Mention.sent_at >= since)
    rows = session.execute(stmt.order_by(Mention.sent_at.desc(), Mention.id.desc()).limit(limit)).all()
    return [
        {"id": m.id, "brand_id": m.brand_id, "rule_ids": m.rule_ids, **_message_summary(msg)}
        for m, msg in rows
    ]
