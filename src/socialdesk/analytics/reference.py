"""The KPI report computed straight from the conversation events: no rollups, no SQL grouping.

This is the definition the fast path (`kpis.gather_parts`, SQL over the rollups) must equal,
row for row: every conversation with an event in the date range is replayed with
`timeline.replay` (the rules of docs/kpis.md), and filters, dimensions and dates are applied
here in Python. Tests compare both on constructed data; `benchmarks/analytics.py` times this
as the baseline.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.analytics.business import Resolver
from socialdesk.analytics.kpis import ACTIVE, Filters, ReportParts, assemble
from socialdesk.analytics.models import CsatSurvey
from socialdesk.analytics.surveys import survey_reply_keys
from socialdesk.analytics.timeline import Event, replay
from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.customers.models import Customer
from socialdesk.db.base import utcnow

CHUNK = 2000


def _in_range(f: Filters, at: datetime | None) -> bool:
    if at is None:
        return False
    return (f.since is None or at >= f.since) and (f.until is None or at < f.until)


def _passes(f: Filters, conv: Any, country: str, agent_id: int | None) -> bool:
    return (
        (f.brand_id is None or conv.brand_id == f.brand_id)
        and (not f.platform or conv.platform == f.platform)
        and (f.team_id is None or conv.team_id == f.team_id)
        and (f.agent_id is None or agent_id == f.agent_id)
        and (not f.language or conv.language == f.language)
        and (not f.country or country == f.country)
    )


def gather_parts_from_events(session: Session, f: Filters, now: datetime | None = None) -> ReportParts:
    """The report's rows by replaying events (see the module docstring)."""
    parts = ReportParts(sla={"first_response": [], "next_response": [], "resolution": []})
    countries = {
        cid: country or "" for cid, country in session.execute(select(Customer.id, Customer.country))
    }
    columns = (
        Conversation.id,
        Conversation.brand_id,
        Conversation.platform,
        Conversation.team_id,
        Conversation.assignee_id,
        Conversation.language,
        Conversation.customer_id,
        Conversation.sla_policy_id,
        Conversation.priority,
        Conversation.status,
        Conversation.first_message_at,
        Conversation.waiting_since,
    )
    conversations = {c.id: c for c in session.execute(select(*columns))}

    def dims(conv: Any, agent_id: int | None) -> tuple:
        return (conv.platform, agent_id, conv.language, countries.get(conv.customer_id, ""))

    # Every measured instant (reply, resolution, SLA stop or breach, answer, customer message,
    # first message) is an event's time: conversations with no event in the range add nothing.
    stmt = select(ConversationEvent.conversation_id).distinct()
    if f.since is not None:
        stmt = stmt.where(ConversationEvent.at >= f.since)
    if f.until is not None:
        stmt = stmt.where(ConversationEvent.at < f.until)
    ids = sorted(session.scalars(stmt))
    resolver = Resolver(session)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        events: dict[int, list[Event]] = defaultdict(list)
        for row in session.execute(
            select(
                ConversationEvent.conversation_id,
                ConversationEvent.id,
                ConversationEvent.kind,
                ConversationEvent.at,
                ConversationEvent.data,
                ConversationEvent.actor_agent_id,
            ).where(ConversationEvent.conversation_id.in_(chunk))
        ):
            events[row.conversation_id].append(
                Event(row.kind, row.at, row.data or {}, row.actor_agent_id, row.id)
            )
        for cid in chunk:
            conv = conversations[cid]
            country = countries.get(conv.customer_id, "")
            evs = events[cid]
            t = replay(
                evs,
                clock=resolver.clock(conv),
                default_agent_id=conv.assignee_id,
                sla=resolver.sla(conv, evs),
            )
            for r in t.responses:
                if _in_range(f, r.stopped_at) and _passes(f, conv, country, r.agent_id):
                    value = r.business_seconds if f.business_hours else r.seconds
                    parts.responses.append((*dims(conv, r.agent_id), r.kind, value))
            for c in t.resolutions:
                if _in_range(f, c.resolved_at) and _passes(f, conv, country, c.agent_id):
                    value = c.business_seconds if f.business_hours else c.seconds
                    parts.resolutions.append((*dims(conv, c.agent_id), value, c.cycle, c.gross_seconds))
            if _passes(f, conv, country, conv.assignee_id):
                for target, outcome in t.sla.items():
                    if outcome.result and _in_range(f, outcome.at):
                        parts.sla[target].append((*dims(conv, conv.assignee_id), outcome.result))
    # Messages sent in the range, counted per conversation's dimensions.
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    stmt = select(Message.conversation_id, Message.direction).where(Message.conversation_id.is_not(None))
    if f.since is not None:
        stmt = stmt.where(Message.sent_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(Message.sent_at < f.until)
    for cid, direction in session.execute(stmt):
        conv = conversations[cid]
        if _passes(f, conv, countries.get(conv.customer_id, ""), conv.assignee_id):
            counts[dims(conv, conv.assignee_id)][0 if direction == "inbound" else 1] += 1
    parts.messages = [(*k, n_in, n_out) for k, (n_in, n_out) in counts.items()]
    # Sentiment: every triaged customer message of the conversations with one in the range.
    triaged_in_range = select(Message.conversation_id).where(
        Message.direction == "inbound", Message.sentiment != "", Message.conversation_id.is_not(None)
    )
    if f.since is not None:
        triaged_in_range = triaged_in_range.where(Message.sent_at >= f.since)
    if f.until is not None:
        triaged_in_range = triaged_in_range.where(Message.sent_at < f.until)
    triaged: dict[int, list[tuple[datetime, int, str]]] = defaultdict(list)
    answers = survey_reply_keys(session)  # survey answers are no customer messages for the shift
    for cid, mid, sent_at, sentiment, external_id in session.execute(
        select(
            Message.conversation_id, Message.id, Message.sent_at, Message.sentiment, Message.external_id
        ).where(
            Message.direction == "inbound",
            Message.sentiment != "",
            Message.conversation_id.in_(triaged_in_range.distinct().scalar_subquery()),
        )
    ):
        if (cid, external_id) not in answers:
            triaged[cid].append((sent_at, mid, sentiment))
    for cid, conv in conversations.items():
        country = countries.get(conv.customer_id, "")
        if not _passes(f, conv, country, conv.assignee_id):
            continue
        if _in_range(f, conv.first_message_at):
            parts.new_conversations.append(dims(conv, conv.assignee_id))
        if conv.status in ACTIVE:
            parts.backlog.append((conv.first_message_at, conv.waiting_since, conv.status))
        seen = sorted(triaged.get(cid, []))
        if len(seen) >= 2 and seen[-1][0] > seen[0][0] and _in_range(f, seen[-1][0]):
            parts.shifts.append((*dims(conv, conv.assignee_id), seen[0][2], seen[-1][2]))
    for cid, rating, answered_at, sent_at in session.execute(
        select(CsatSurvey.conversation_id, CsatSurvey.rating, CsatSurvey.answered_at, CsatSurvey.sent_at)
    ):
        conv = conversations[cid]
        if not _passes(f, conv, countries.get(conv.customer_id, ""), conv.assignee_id):
            continue
        if rating is not None and _in_range(f, answered_at):
            parts.ratings.append((*dims(conv, conv.assignee_id), rating))
        if _in_range(f, sent_at):
            parts.surveys_sent += 1
    return parts


def report_figures_from_events(
    session: Session, f: Filters, dims: tuple[str, ...], now: datetime | None = None
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    now = now or utcnow()
    return assemble(session, f, gather_parts_from_events(session, f, now), dims, now)
