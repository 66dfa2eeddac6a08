"""Routing: skills, capacity, availability, round-robin, VIP/urgency escalation, queues (both databases)."""

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from socialdesk.auth.service import Principal
from socialdesk.conversations.models import Conversation, ConversationEvent
from socialdesk.routing import service
from socialdesk.routing.settings import update_config
from tests import factories as base
from tests.routing import factories as f

ADMIN = Principal(name="test-admin", role="admin")


@pytest.fixture
def db_url(any_db_url):
    # Skills are matched in SQL (JSON functions differ per database): both are tested.
    return any_db_url


def test_language_skill_picks_the_agent_who_speaks_it(session):
    f.agent(session, "Anna", languages=["en"])
    german = f.agent(session, "Bernd", languages=["de"])
    c = f.conversation(session, language="de")
    decision = service.route(session, c)
    assert decision.agent_id == german.id
    assert c.assignee_id == german.id


def test_platform_skill_and_empty_skills_mean_any(session):
    x_only = f.agent(session, "X only", platforms=["x"])
    anyone = f.agent(session, "Generalist")
    ig = f.conversation(session, platform="instagram")
    assert service.route(session, ig).agent_id == anyone.id
    x_only.last_assigned_at = None
    anyone.last_assigned_at = base.brand(session, "later").created_at  # anyone was just used
    xc = f.conversation(session, platform="x")
    assert service.route(session, xc).agent_id == x_only.id


def test_an_agent_at_capacity_is_skipped_and_waiting_conversations_do_not_count(session):
    busy = f.agent(session, "Busy", capacity=1)
    other = f.agent(session, "Other", capacity=5)
    held = f.conversation(session, assignee_id=busy.id)
    f.conversation(session, assignee_id=busy.id, status="pending")  # waits on the customer
    other.last_assigned_at = None
    busy.last_assigned_at = None
    assert service.open_load(session, [busy.id]) == {busy.id: 1}
    c = f.conversation(session)
    assert service.route(session, c).agent_id == other.id
    held.status = "resolved"
    c2 = f.conversation(session)
    assert service.route(session, c2).agent_id == busy.id


@pytest.mark.parametrize("availability", ["away", "offline"])
def test_only_online_agents_get_conversations(session, availability):
    f.agent(session, "Not here", availability=availability)
    c = f.conversation(session)
    decision = service.route(session, c)
    assert decision.agent_id is None
    assert c.assignee_id is None


@pytest.mark.slow
def test_round_robin_is_fair_over_1000_conversations(session):
    team = f.team(session, "care")
    agents = [f.agent(session, f"A{i}", teams=[team], capacity=1000) for i in range(7)]
    account = base.account(session, "x")
    conversations = []
    for i in range(1000):
        c = Conversation(
            brand_id=account.brand_id, account_id=account.id, platform="x", thread_key=f"rr{i}", status="new"
        )
        conversations.append(c)
    session.add_all(conversations)
    session.flush()
    for c in conversations:
        service.route(session, c)
    counts = Counter(c.assignee_id for c in conversations)
    assert set(counts) == {a.id for a in agents}
    # Least-recently-assigned order gives a perfect rotation: 1000 = 7 * 142 + 6.
    assert sorted(counts.values()) == [142] + [143] * 6
    assert all(c.team_id == team.id for c in conversations)


def test_vip_customers_and_high_urgency_go_to_the_senior_team(session):
    general = f.team(session, "general")
    senior = f.team(session, "senior", is_senior=True)
    f.agent(session, "Junior", teams=[general])
    veteran = f.agent(session, "Veteran", teams=[senior])
    vip = f.conversation(session, vip=True)
    urgent = f.conversation(session, urgency=85)
    calm = f.conversation(session, urgency=20)
    assert service.route(session, vip).reason == "vip"
    assert (vip.team_id, vip.assignee_id) == (senior.id, veteran.id)
    assert service.route(session, urgent).reason == "urgency"
    assert urgent.team_id == senior.id
    service.route(session, calm)
    assert calm.team_id == general.id


def test_the_urgency_threshold_is_a_setting(session):
    senior = f.team(session, "senior", is_senior=True)
    update_config(session, senior_urgency_threshold=90)
    c = f.conversation(session, urgency=85)
    service.route(session, c)
    assert c.team_id != senior.id
    update_config(session, senior_urgency_threshold=80)
    c2 = f.conversation(session, urgency=85)
    service.route(session, c2)
    assert c2.team_id == senior.id


def test_team_skills_choose_the_team_and_no_eligible_agent_leaves_it_in_the_queue(session):
    f.team(session, "en", languages=["en"])
    de = f.team(session, "de", languages=["de"], platforms=["instagram"])
    c = f.conversation(session, language="de", platform="instagram")
    decision = service.route(session, c)
    assert (decision.team_id, decision.agent_id) == (de.id, None)
    assert service.team_queue(session, de.id) == [c]


def test_queues_order_by_priority_then_sla_due_time(session):
    q = f.team(session, "q")
    low = f.conversation(session, team_id=q.id, priority="low")
    late = f.conversation(
        session, team_id=q.id, priority="high", first_response_due_at=f.T0 + timedelta(hours=5)
    )
    soon = f.conversation(
        session, team_id=q.id, priority="high", first_response_due_at=f.T0 + timedelta(hours=1)
    )
    no_clock = f.conversation(session, team_id=q.id, priority="high")
    urgent = f.conversation(session, team_id=q.id, priority="urgent")
    f.conversation(session, team_id=q.id, priority="urgent", status="pending")  # not waiting on us
    assert service.team_queue(session, q.id) == [urgent, soon, late, no_clock, low]


def test_assign_records_who_did_it_and_agents_may_only_take_for_themselves(session):
    me = f.agent(session, "Me")
    colleague = f.agent(session, "Colleague")
    c = f.conversation(session)
    as_me = Principal(name="me", role="agent", agent_id=me.id)
    with pytest.raises(service.Forbidden):
        service.assign(session, c, agent_id=colleague.id, team_id=None, actor=as_me)
    assert c.assignee_id is None
    service.assign(session, c, agent_id=me.id, team_id=None, actor=as_me)
    event = session.scalars(
        select(ConversationEvent).where(
            ConversationEvent.conversation_id == c.id, ConversationEvent.kind == "assigned"
        )
    ).one()
    assert event.actor_agent_id == me.id
    assert event.data["to_agent"] == me.id and event.data["from_agent"] is None
    assert me.last_assigned_at is not None
    theirs = f.conversation(session, assignee_id=colleague.id)
    with pytest.raises(service.Forbidden, match="another agent"):
        service.assign(session, theirs, agent_id=me.id, team_id=None, actor=as_me)
    assert theirs.assignee_id == colleague.id


def test_assigning_an_agent_keeps_the_team_and_a_full_unassign_clears_both(session):
    t = f.team(session, "t")
    a = f.agent(session)
    c = f.conversation(session, team_id=t.id)
    service.assign(session, c, agent_id=a.id, team_id=None, actor=ADMIN)
    assert (c.assignee_id, c.team_id) == (a.id, t.id)
    service.assign(session, c, agent_id=None, team_id=None, actor=ADMIN)
    assert (c.assignee_id, c.team_id) == (None, None)


def test_assigning_to_a_missing_or_deactivated_agent_fails_and_changes_nothing(session):
    gone = f.agent(session, active=False)
    c = f.conversation(session)
    with pytest.raises(service.NotFound):
        service.assign(session, c, agent_id=99999, team_id=None, actor=ADMIN)
    with pytest.raises(service.RoutingError, match="deactivated"):
        service.assign(session, c, agent_id=gone.id, team_id=None, actor=ADMIN)
    assert c.assignee_id is None


@pytest.mark.parametrize("reassign", [True, False])
def test_going_offline_releases_open_conversations_when_configured(session, reassign):
    t = f.team(session, "t")
    leaving = f.agent(session, "Leaving", teams=[t])
    staying = f.agent(session, "Staying", teams=[t])
    update_config(session, reassign_on_offline=reassign)
    c = f.conversation(session, team_id=t.id, assignee_id=leaving.id)
    waiting = f.conversation(session, team_id=t.id, assignee_id=leaving.id, status="pending")
    service.set_availability(session, leaving, "offline", actor=Principal("self", "agent", leaving.id))
    assert c.assignee_id == (staying.id if reassign else leaving.id)
    assert waiting.assignee_id == leaving.id  # pending conversations stay with their agent


def test_an_agent_may_not_change_a_colleagues_availability(session):
    a, b = f.agent(session), f.agent(session)
    with pytest.raises(service.Forbidden):
        service.set_availability(session, b, "offline", actor=Principal("a", "agent", a.id))
    assert b.availability == "online"
    service.set_availability(session, b, "away", actor=Principal("sup", "supervisor"))
    assert b.availability == "away"


def test_creating_agents_hashes_passwords_and_rejects_bad_input(session):
    from socialdesk.auth.passwords import verify_password

    a = service.create_agent(
        session, email="Ann@Example.com", name="Ann", password="correct horse", languages=["DE"]
    )
    assert a.email == "ann@example.com" and a.languages == ["de"]
    assert a.password_hash.startswith("$argon2id$")
    assert verify_password(a.password_hash, "correct horse") and not verify_password(
        a.password_hash, "wrong one"
    )
    for bad, message in [
        ({"email": "ann@example.com"}, "already exists"),
        ({"email": "not-an-email"}, "not an email"),
        ({"role": "owner"}, "unknown role"),
        ({"password": "short"}, "at least 8"),
        ({"team_slugs": ["nope"]}, "does not exist"),
    ]:
        kwargs = {"email": "new@example.com", "name": "New", **bad}
        with pytest.raises(service.RoutingError, match=message):
            service.create_agent(session, **kwargs)


def test_assignment_is_published_live(session):
    import asyncio

    from socialdesk.live import get_broker

    a = f.agent(session)
    c = f.conversation(session)

    async def scenario():
        stream = get_broker().subscribe()
        waiter = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)  # let the subscription register
        service.assign(session, c, agent_id=a.id, team_id=None, actor=ADMIN)
        event = await asyncio.wait_for(waiter, 5)
        await stream.aclose()
        return event

    event = asyncio.run(scenario())
    assert (event.kind, event.data["conversation_id"]) == ("conversation.updated", c.id)
