"""The fast report (SQL over the rollups) equals the report replayed from the events, exactly.

Constructed conversations with reopens (explicit and by a customer message), pending and
snoozed stretches, a business-hours calendar, SLA policies and breach events, reassignment,
CSAT answers and triaged sentiment; then late events land on conversations already rolled
up. After every refresh, each filter set gives the same report both ways.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from socialdesk.analytics import kpis
from socialdesk.analytics.models import CsatSurvey, RollupState
from socialdesk.analytics.reference import report_figures_from_events
from socialdesk.analytics.reports import BREAKDOWNS
from socialdesk.analytics.rollup import rebuild_all, refresh
from socialdesk.conversations.models import ConversationEvent
from socialdesk.routing.models import Agent, BusinessCalendar, SlaPolicy, Team
from tests import factories
from tests.analytics.factories import customer, timeline

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)  # a Monday
NOW = datetime(2026, 11, 12, 12, 0, tzinfo=UTC)


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def _steps(rng: random.Random, t: datetime, agents: list[int]) -> list[tuple]:
    """A plausible timeline: waits, replies, pending, snooze, resolve, reopen, breaches."""
    sentiments = ("negative", "neutral", "positive")
    steps: list[tuple] = [("assigned", t, rng.choice(agents)), ("in", t, rng.choice(sentiments))]
    status = "open"
    for _ in range(rng.randint(2, 9)):
        t += timedelta(minutes=rng.choice((1, 7, 25, 90, 300, 1300)), seconds=rng.randint(0, 59))
        move = rng.random()
        if status in ("resolved", "closed"):
            if move < 0.5:  # the customer writes again: threading records the reopen
                steps.append(("in", t, rng.choice(sentiments)))
                status = "open"
            elif move < 0.7 and status == "resolved":
                steps += [("reopened", t), ("status", t, "open")]
                status = "open"
            elif status == "resolved":
                steps.append(("status", t, "closed"))
                status = "closed"
            continue
        if move < 0.3:
            steps.append(("out", t, rng.choice(agents)))
        elif move < 0.5:
            steps.append(("in", t, rng.choice(sentiments)))
        elif move < 0.6:
            steps.append(("status", t, "pending"))
            status = "pending"
        elif move < 0.7:
            steps.append(("status", t, "snoozed" if status != "snoozed" else "open"))
            status = "snoozed" if status != "snoozed" else "open"
        elif move < 0.8:
            steps.append(("status", t, "resolved"))
            status = "resolved"
        elif move < 0.87:
            steps.append(("assigned", t, rng.choice(agents)))
        elif move < 0.92:
            steps.append(("sla_breach", t, rng.choice(("first_response", "next_response", "resolution"))))
        else:
            steps.append(("out", t))  # an automation's reply: no agent on the event
    return steps


def _world(session) -> dict:
    rng = random.Random(7)
    brand = factories.brand(session, "acme")
    other = factories.brand(session, "globex")
    accounts = [
        factories.account(session, "x", brand_obj=brand),
        factories.account(session, "instagram", brand_obj=brand),
        factories.account(session, "facebook", brand_obj=other),
    ]
    agents = [Agent(email=f"a{i}@acme.test", name=f"Agent {i}", role="agent") for i in range(4)]
    berlin = Team(slug="care-de", name="Care DE", timezone="Europe/Berlin")
    tokyo = Team(slug="care-jp", name="Care JP", timezone="Asia/Tokyo")
    session.add_all([*agents, berlin, tokyo])
    session.flush()
    session.add(
        BusinessCalendar(
            name="Berlin office",
            team_id=berlin.id,
            timezone="Europe/Berlin",
            schedule={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        )
    )
    policies = [
        SlaPolicy(name="fast", first_response_minutes=30, next_response_minutes=60, resolution_minutes=240),
        SlaPolicy(name="business", first_response_minutes=60, resolution_minutes=600, business_hours=True),
    ]
    session.add_all(policies)
    session.flush()
    customers = [customer(session, country=c) for c in ("US", "DE", "DE", "JP", "", "BR")]
    agent_ids = [a.id for a in agents]
    conversations = []
    for _ in range(45):
        t = START + timedelta(minutes=rng.randint(0, 6 * 24 * 60), seconds=rng.randint(0, 59))
        conv = timeline(
            session,
            rng.choice(accounts),
            _steps(rng, t, agent_ids),
            customer_obj=rng.choice([*customers, None]),
            language=rng.choice(("en", "de", "ja", "")),
            team_id=rng.choice((berlin.id, tokyo.id, None)),
            sla_policy_id=rng.choice((policies[0].id, policies[1].id, None)),
        )
        conversations.append(conv)
        if conv.status in ("resolved", "closed") and conv.customer_id and rng.random() < 0.7:
            sent = conv.last_message_at + timedelta(minutes=5)
            answered = rng.random() < 0.8
            session.add(
                CsatSurvey(
                    conversation_id=conv.id,
                    customer_id=conv.customer_id,
                    status="answered" if answered else "sent",
                    channel="private",
                    sent_at=sent,
                    rating=rng.randint(1, 5) if answered else None,
                    answered_at=sent + timedelta(hours=rng.randint(1, 30)) if answered else None,
                )
            )
    session.commit()
    return {
        "brand": brand,
        "agents": agents,
        "team": berlin,
        "conversations": conversations,
        "rng": rng,
    }


def _filter_sets(session, world) -> list[kpis.Filters]:
    week = dict(since="2026-11-02", until="2026-11-09")
    return [
        kpis.build_filters(session),
        kpis.build_filters(session, **week),
        kpis.build_filters(session, **week, business_hours=True),
        kpis.build_filters(session, since="2026-11-04T10:00", until="2026-11-06T15:30"),
        kpis.build_filters(session, **week, platform="x"),
        kpis.build_filters(session, **week, brand="acme", country="DE"),
        kpis.build_filters(session, **week, agent=world["agents"][1].email, business_hours=True),
        kpis.build_filters(session, **week, team="care-de", language="de"),
    ]


def _assert_equal(session, world) -> None:
    for f in _filter_sets(session, world):
        fast = kpis.report_figures(session, f, BREAKDOWNS, now=NOW)
        slow = report_figures_from_events(session, f, BREAKDOWNS, now=NOW)
        assert fast[0] == slow[0], f.describe()
        for dim in BREAKDOWNS:
            assert fast[1][dim] == slow[1][dim], (dim, f.describe())


def test_fast_report_equals_the_replay_of_events_including_late_events(session):
    world = _world(session)
    assert rebuild_all(session) == 45
    session.commit()
    everything = kpis.report_figures(session, kpis.build_filters(session), BREAKDOWNS, now=NOW)[0]
    # The constructed data exercises what it claims to.
    assert everything["resolution_time"]["after_reopen"] > 0
    assert everything["first_response_time"]["count"] > 20 and everything["next_response_time"]["count"] > 5
    assert everything["sla_compliance"]["first_response"]["breached"] > 0
    assert everything["sla_compliance"]["first_response"]["met"] > 0
    assert everything["csat"]["answers"] > 3 and everything["sentiment_shift"]["conversations"] > 3
    assert everything["backlog"]["by_status"]["pending"] + everything["backlog"]["by_status"]["snoozed"] > 0
    _assert_equal(session, world)

    # Late events: facts already rolled up change, and the incremental refresh must notice.
    rng = world["rng"]
    for conv in world["conversations"][::4]:
        first = conv.first_message_at
        session.add_all(
            [
                ConversationEvent(
                    conversation_id=conv.id,
                    kind="status_changed",
                    at=first + timedelta(minutes=3),
                    data={"from": "open", "to": "pending"},
                ),
                ConversationEvent(
                    conversation_id=conv.id,
                    kind="status_changed",
                    at=first + timedelta(minutes=rng.randint(4, 200)),
                    data={"from": "pending", "to": "open"},
                ),
                ConversationEvent(
                    conversation_id=conv.id,
                    kind="assigned",
                    at=first + timedelta(minutes=1),
                    data={"agent_id": world["agents"][3].id},
                ),
            ]
        )
    session.commit()
    assert refresh(session) >= 12
    session.commit()
    _assert_equal(session, world)


def test_refresh_replays_only_the_conversations_that_miss_an_event(session):
    """Nothing new: nothing replayed (the report only reads). A new event, or one that commits
    late with an id below the watermark, gets exactly its conversation replayed."""
    world = _world(session)
    rebuild_all(session)
    session.commit()
    assert refresh(session) == 0
    a, b = world["conversations"][0], world["conversations"][1]
    top = session.scalar(select(func.max(ConversationEvent.id)))

    def late(conv, event_id: int | None) -> None:
        session.add(
            ConversationEvent(
                id=event_id,
                conversation_id=conv.id,
                kind="assigned",
                at=conv.first_message_at + timedelta(minutes=1),
                data={"agent_id": world["agents"][2].id},
            )
        )
        session.commit()

    late(a, top + 100)
    assert refresh(session) == 1
    session.commit()
    assert refresh(session) == 0  # replayed once, not again on every call
    # Committed after the refresh above, with a lower id than the watermark it left.
    late(b, top + 50)
    assert session.get(RollupState, "events").value == top + 100
    assert refresh(session) == 1
    session.commit()
    assert refresh(session) == 0
    _assert_equal(session, world)
