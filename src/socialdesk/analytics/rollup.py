"""Keeping the analytics rollups in step with the conversation events.

`refresh` folds in every conversation that has events its rollup was not built from, looking at
the conversations with an event newer than the watermark (with a small overlap, because on
PostgreSQL a lower event id can commit after a higher one was seen) and comparing event counts;
`recompute` rebuilds chosen conversations from their whole timeline, so both are idempotent.
The scheduler refreshes every few seconds, so the reports normally only read.
The pipeline step keeps the per-conversation sentiment (first/last customer message) current.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from socialdesk.analytics.business import Resolver
from socialdesk.analytics.models import (
    ConversationFacts,
    ConversationSentiment,
    ResolutionCycle,
    ResponseInterval,
    RollupState,
)
from socialdesk.analytics.timeline import Event, replay
from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.db.base import utcnow

WATERMARK = "events"
OVERLAP = 500  # event ids re-read on every refresh (late commits on PostgreSQL)
CHUNK = 500


def _upsert(session: Session, table, values: list[dict], key: str, set_) -> None:
    """INSERT ... ON CONFLICT DO UPDATE on SQLite and PostgreSQL alike."""
    if not values:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=[key], set_=set_(stmt.excluded))  # type: ignore[operator]
    # executemany of one cached statement: no per-batch compile of a giant VALUES list.
    session.execute(stmt, values)


def _merge_sentiment(session: Session, rows: list[dict]) -> None:
    """Merge (first, last) sentiments: the earlier first and the later last win, in any order."""
    table = ConversationSentiment.__table__
    from sqlalchemy import case

    def set_(excluded):
        return {
            "first_sentiment": case(
                (excluded.first_at < table.c.first_at, excluded.first_sentiment),
                else_=table.c.first_sentiment,
            ),
            "first_at": case(
                (excluded.first_at < table.c.first_at, excluded.first_at), else_=table.c.first_at
            ),
            "last_sentiment": case(
                (excluded.last_at >= table.c.last_at, excluded.last_sentiment), else_=table.c.last_sentiment
            ),
            "last_at": case((excluded.last_at >= table.c.last_at, excluded.last_at), else_=table.c.last_at),
        }

    _upsert(session, table, rows, "conversation_id", set_)


def record_sentiment(session: Session, message: Message) -> None:
    """Fold one triaged customer message into its conversation's first/last sentiment."""
    if message.direction != "inbound" or not message.sentiment or message.conversation_id is None:
        return
    at = message.sent_at
    _merge_sentiment(
        session,
        [
            {
                "conversation_id": message.conversation_id,
                "first_at": at,
                "first_sentiment": message.sentiment,
                "last_at": at,
                "last_sentiment": message.sentiment,
            }
        ],
    )


def _rebuild_sentiment(session: Session, ids: Sequence[int]) -> None:
    from socialdesk.analytics.surveys import survey_reply_keys

    answers = survey_reply_keys(session, ids)  # survey answers are no customer messages here
    rows = session.execute(
        select(Message.conversation_id, Message.sent_at, Message.sentiment, Message.external_id)
        .where(
            Message.conversation_id.in_(ids),
            Message.direction == "inbound",
            Message.sentiment != "",
        )
        .order_by(Message.conversation_id, Message.sent_at, Message.id)
    ).all()
    merged: dict[int, dict] = {}
    for conv_id, at, sentiment, external_id in rows:
        if (conv_id, external_id) in answers:
            continue
        row = merged.get(conv_id)
        if row is None:
            merged[conv_id] = {
                "conversation_id": conv_id,
                "first_at": at,
                "first_sentiment": sentiment,
                "last_at": at,
                "last_sentiment": sentiment,
            }
        else:
            row["last_at"], row["last_sentiment"] = at, sentiment
    _merge_sentiment(session, list(merged.values()))


def recompute(session: Session, conversation_ids: Iterable[int]) -> int:
    """Rebuild the rollups of these conversations from their full event history."""
    resolver = Resolver(session)
    ids = sorted(set(conversation_ids))
    done = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        conversations = {
            c.id: c
            for c in session.execute(
                select(
                    Conversation.id,
                    Conversation.team_id,
                    Conversation.assignee_id,
                    Conversation.sla_policy_id,
                    Conversation.brand_id,
                    Conversation.platform,
                    Conversation.priority,
                ).where(Conversation.id.in_(chunk))
            )
        }
        by_conv: dict[int, list[Event]] = defaultdict(list)
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
            by_conv[row.conversation_id].append(
                Event(
                    kind=row.kind,
                    at=row.at,
                    data=row.data or {},
                    actor_agent_id=row.actor_agent_id,
                    id=row.id,
                )
            )
        for model in (ResponseInterval, ResolutionCycle, ConversationFacts):
            session.execute(delete(model).where(model.conversation_id.in_(chunk)))
        responses, resolutions, facts = [], [], []
        now = utcnow()
        for conv_id in chunk:
            conv = conversations.get(conv_id)
            if conv is None:
                continue
            events = by_conv.get(conv_id, [])
            t = replay(
                events,
                clock=resolver.clock(conv),
                default_agent_id=conv.assignee_id,
                sla=resolver.sla(conv, events),
            )
            for seq, r in enumerate(t.responses, 1):
                responses.append(
                    {
                        "conversation_id": conv_id,
                        "seq": seq,
                        "kind": r.kind,
                        "started_at": r.started_at,
                        "stopped_at": r.stopped_at,
                        "seconds": r.seconds,
                        "business_seconds": r.business_seconds,
                        "agent_id": r.agent_id,
                    }
                )
            for c in t.resolutions:
                resolutions.append(
                    {
                        "conversation_id": conv_id,
                        "cycle": c.cycle,
                        "started_at": c.started_at,
                        "resolved_at": c.resolved_at,
                        "seconds": c.seconds,
                        "business_seconds": c.business_seconds,
                        "gross_seconds": c.gross_seconds,
                        "agent_id": c.agent_id,
                    }
                )
            facts.append(
                {
                    "conversation_id": conv_id,
                    "reopen_count": t.reopen_count,
                    "sla_first_response": t.sla["first_response"].result,
                    "sla_first_response_at": t.sla["first_response"].at,
                    "sla_next_response": t.sla["next_response"].result,
                    "sla_next_response_at": t.sla["next_response"].at,
                    "sla_resolution": t.sla["resolution"].result,
                    "sla_resolution_at": t.sla["resolution"].at,
                    "last_event_id": t.last_event_id,
                    "event_count": len(events),
                    "computed_at": now,
                }
            )
            done += 1
        if responses:
            session.execute(ResponseInterval.__table__.insert(), responses)
        if resolutions:
            session.execute(ResolutionCycle.__table__.insert(), resolutions)
        if facts:
            session.execute(ConversationFacts.__table__.insert(), facts)
        _rebuild_sentiment(session, chunk)
    session.flush()
    return done


def stale(session: Session, mark: int) -> list[int]:
    """Conversations whose rollups miss an event, among those with an event id above ``mark - OVERLAP``.

    A conversation is stale when its event count differs from the count its rollup was built
    from: that catches new events and events that committed late with an id below the
    watermark (PostgreSQL hands out ids before commit), and leaves out conversations already
    replayed by an earlier refresh. Reads a few hundred index entries when nothing is new.
    """
    # The window by primary-key range, made distinct here, then probes by conversation id in
    # chunks: SQLite plans ``SELECT DISTINCT conversation_id ... WHERE id > ?`` (and so an
    # ``IN (subquery)`` of it) as a scan of the whole conversation_id index.
    window = sorted(
        set(
            session.scalars(
                select(ConversationEvent.conversation_id).where(ConversationEvent.id > mark - OVERLAP)
            )
        )
    )
    counts: dict[int, int] = {}
    built: dict[int, int] = {}
    for start in range(0, len(window), CHUNK):
        chunk = window[start : start + CHUNK]
        counts.update(
            session.execute(
                select(ConversationEvent.conversation_id, func.count())
                .where(ConversationEvent.conversation_id.in_(chunk))
                .group_by(ConversationEvent.conversation_id)
            ).all()
        )
        built.update(
            session.execute(
                select(ConversationFacts.conversation_id, ConversationFacts.event_count).where(
                    ConversationFacts.conversation_id.in_(chunk)
                )
            ).all()
        )
    return sorted(cid for cid, n in counts.items() if built.get(cid) != n)


def refresh(session: Session) -> int:
    """Fold new and late events into the rollups; returns how many conversations were replayed.

    The scheduler runs this every few seconds (``scheduler.py``, job "rollups"), so a report
    normally finds nothing to fold; every API call, dashboard and report still calls it first,
    so a figure never misses an event that committed before the call.
    """
    state = _watermark(session)
    mark = state.value
    newest = session.scalar(select(func.max(ConversationEvent.id))) or 0
    done = recompute(session, stale(session, mark))
    if newest > state.value:
        state.value = newest
    session.flush()
    return done


def _watermark(session: Session) -> RollupState:
    """The watermark row, created at 0 if missing. Two refreshes on a fresh database (the
    scheduler's jobs, a dashboard) both find it missing: the insert ignores the other's row."""
    state = session.get(RollupState, WATERMARK)
    if state is None:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        session.execute(
            insert(RollupState).values(key=WATERMARK, value=0).on_conflict_do_nothing(index_elements=["key"])
        )
        state = session.get(RollupState, WATERMARK, populate_existing=True)
        assert state is not None
    return state


def rebuild_all(session: Session) -> int:
    """Recompute every conversation (after changing business hours, or on first install)."""
    ids = session.scalars(select(Conversation.id)).all()
    done = recompute(session, ids)
    newest = session.scalar(select(func.max(ConversationEvent.id))) or 0
    _watermark(session).value = newest
    session.flush()
    return done
