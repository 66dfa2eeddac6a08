"""The inbox's list and counts against a plain-Python reference, on SQLite and PostgreSQL.

The list is read along covering indexes (SQLite: INDEXED BY) level by level and clock by
clock; these tests pin that every sort and filter combination returns exactly the rows and
order the definitions say. The view counts are remembered only until the next live event.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from socialdesk.auth.service import Principal
from socialdesk.conversations import actions
from socialdesk.conversations.models import PRIORITIES, Conversation
from socialdesk.db.base import utcnow
from socialdesk.web.ui import cache, inbox
from tests.web import factories


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


@pytest.fixture
def seeded(session) -> dict[str, Any]:
    rng = random.Random(11)
    account = factories.brand_with_account(session, "x", slug="acme-x")
    other = factories.brand_with_account(session, "facebook", slug="acme-fb")
    teams = [factories.team(session, f"T{i}", slug=f"t{i}") for i in range(3)]
    agents = [factories.agent(session, "agent") for _ in range(3)]
    now = utcnow()
    for i in range(160):
        status = rng.choice(["new", "open", "pending", "resolved", "closed", "snoozed"])
        at = now - timedelta(minutes=rng.randint(1, 5000))
        if i % 7 == 0:
            at = now - timedelta(minutes=30)  # ties on last_message_at: the id decides
        c = factories.conversation(
            session,
            rng.choice([account, other]),
            f"message {i}",
            at=at,
            status=status,
            priority=rng.choice(PRIORITIES),
            language=rng.choice(["en", "de", "ja"]),
            sentiment=rng.choice(["negative", "neutral", "positive"]),
            assignee_id=rng.choice([None, *[a.id for a in agents]]),
            team_id=rng.choice([None, *[t.id for t in teams]]),
            labels=rng.sample(["refund", "vip", "bug"], rng.randint(0, 2)),
        )
        clock = rng.random()
        due = now + timedelta(minutes=rng.randint(-120, 600))
        if clock < 0.4:
            c.first_response_due_at = due
        elif clock < 0.8:
            c.first_response_at = at
            c.next_response_due_at = due
        elif clock < 0.9:
            c.first_response_at = at
    session.commit()
    cache.forget()
    return {
        "agents": agents,
        "teams": teams,
        "principal": Principal(name="a", role="supervisor", agent_id=agents[0].id),
    }


def _due(c: Conversation):
    return c.first_response_due_at if c.first_response_at is None else c.next_response_due_at


def _reference(session, q: inbox.InboxQuery, principal: Principal, limit: int) -> list[int]:
    rows = list(session.scalars(select(Conversation)))
    f = q.filters
    view = q.view
    active = view not in ("all",) and not f.get("status")

    def keep(c: Conversation) -> bool:
        if f.get("status") and c.status != f["status"]:
            return False
        if active and c.status not in inbox.ACTIVE_STATUSES:
            return False
        if view == "unassigned" and c.assignee_id is not None:
            return False
        if view == "mine" and c.assignee_id != principal.agent_id:
            return False
        if view.startswith("team:") and c.team_id != int(view[5:]):
            return False
        if view.startswith("label:") and view[6:] not in (c.labels or []):
            return False
        for name in ("language", "sentiment", "priority", "platform"):
            if f.get(name) and getattr(c, name) != f[name]:
                return False
        return True

    kept = [c for c in rows if keep(c)]

    def newest(items: list[Conversation]) -> list[Conversation]:
        return sorted(items, key=lambda c: (c.last_message_at, c.id), reverse=True)

    if q.sort == "newest":
        ordered = newest(kept)
    elif q.sort == "priority":
        ordered = [c for p in PRIORITIES for c in newest([c for c in kept if c.priority == p])]
    else:
        timed = sorted((c for c in kept if _due(c) is not None), key=lambda c: (_due(c), c.id))
        ordered = timed + newest([c for c in kept if _due(c) is None])
    return [c.id for c in ordered[:limit]]


QUERIES = [
    {},
    {"view": "unassigned"},
    {"view": "mine"},
    {"view": "all"},
    {"view": "label:refund"},
    {"sentiment": "negative", "language": "de"},
    {"sentiment": "negative", "platform": "x", "language": "ja"},
    {"status": "resolved"},
    {"priority": "urgent", "language": "en"},
]


@pytest.mark.parametrize("sort", ["sla", "newest", "priority"])
def test_every_sort_and_filter_returns_exactly_the_reference_rows(session, seeded, sort):
    principal = seeded["principal"]
    queries = [*QUERIES, {"view": f"team:{seeded['teams'][1].id}", "language": "en"}]
    for params in queries:
        q = inbox.InboxQuery.from_params({**params, "sort": sort})
        for limit in (5, 50):
            got = [r.conversation.id for r in inbox.list_inbox(session, principal, q, limit=limit)]
            assert got == _reference(session, q, principal, limit), (params, sort, limit)


def test_view_counts_match_the_rows(session, seeded):
    principal = seeded["principal"]
    links = {v.key: v.count for v in inbox.views_for(session, principal)}
    rows = list(session.scalars(select(Conversation)))
    active = [c for c in rows if c.status in inbox.ACTIVE_STATUSES]
    assert links["all"] == len(rows)
    assert links["all_open"] == len(active)
    assert links["unassigned"] == sum(1 for c in active if c.assignee_id is None)
    assert links["mine"] == sum(1 for c in active if c.assignee_id == principal.agent_id)
    for label in ("refund", "vip", "bug"):
        assert links.get(f"label:{label}", 0) == sum(1 for c in active if label in (c.labels or []))
    for team in seeded["teams"]:
        assert links[f"team:{team.id}"] == sum(1 for c in active if c.team_id == team.id)


def test_remembered_counts_are_dropped_as_soon_as_a_change_is_announced(session, seeded):
    principal = seeded["principal"]
    before = {v.key: v.count for v in inbox.views_for(session, principal)}
    target = session.scalar(
        select(Conversation).where(Conversation.status == "open").order_by(Conversation.id)
    )
    # A change through the conversations domain publishes its live event (before the commit).
    actions.change_status(session, target, "resolved", actor=None)
    session.commit()
    time.sleep(cache.GRACE + 0.05)
    after = {v.key: v.count for v in inbox.views_for(session, principal)}
    assert after["all_open"] == before["all_open"] - 1  # not the remembered figure
    assert after["all"] == before["all"]
