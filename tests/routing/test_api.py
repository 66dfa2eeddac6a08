"""The routing, SLA and automation API: every endpoint against every role, and clear 4xx errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from socialdesk.auth.models import AuditEntry
from socialdesk.routing.models import Agent
from tests.routing import factories as f


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    me: int
    colleague: int
    team: int
    conversation: int
    mine: int
    policy: int
    calendar: int
    rule: int


@pytest.fixture
def world(session, client) -> World:
    from socialdesk.automation.models import AutomationRule
    from socialdesk.routing.models import BusinessCalendar, SlaPolicy

    team = f.team(session, "care")
    me = f.agent(session, "Me", teams=[team])
    colleague = f.agent(session, "Colleague", teams=[team])
    c = f.conversation(session, team_id=team.id)
    mine = f.conversation(session, team_id=team.id, assignee_id=me.id)
    policy = SlaPolicy(name="std", platform="", priority="", first_response_minutes=60)
    calendar = BusinessCalendar(name="office", timezone="UTC", schedule={"mon": [["09:00", "17:00"]]})
    rule = AutomationRule(name="r", event="message_created", conditions={}, actions=[{"type": "resolve"}])
    session.add_all([policy, calendar, rule])
    session.flush()
    headers = {
        "admin": f.token(session, "admin"),
        "supervisor": f.token(session, "supervisor"),
        "agent": f.token(session, "agent", me),
    }
    session.commit()
    return World(headers, me.id, colleague.id, team.id, c.id, mine.id, policy.id, calendar.id, rule.id)


ALL = ("admin", "supervisor", "agent")
MANAGERS = ("admin", "supervisor")
ADMIN = ("admin",)

# (method, path template, JSON body or a function of the role, roles allowed)
ENDPOINTS = [
    ("GET", "/api/v1/agents", None, ALL),
    ("GET", "/api/v1/agents/{me}", None, ALL),
    ("POST", "/api/v1/agents", lambda r: {"email": f"new-{r}@example.com", "name": "New"}, ADMIN),
    ("PATCH", "/api/v1/agents/{colleague}", {"capacity": 3}, ADMIN),
    ("PUT", "/api/v1/agents/{colleague}/availability", {"availability": "away"}, MANAGERS),
    ("PUT", "/api/v1/agents/{me}/availability", {"availability": "away"}, ALL),
    ("GET", "/api/v1/teams", None, ALL),
    ("GET", "/api/v1/teams/{team}", None, ALL),
    ("POST", "/api/v1/teams", lambda r: {"slug": f"t-{r}", "name": "T"}, ADMIN),
    ("PATCH", "/api/v1/teams/{team}", {"timezone": "Europe/Berlin"}, ADMIN),
    ("PUT", "/api/v1/teams/{team}/members/{colleague}", None, ADMIN),
    ("DELETE", "/api/v1/teams/{team}/members/{colleague}", None, ADMIN),
    ("GET", "/api/v1/teams/{team}/queue", None, ALL),
    ("GET", "/api/v1/routing/queue", None, ALL),
    (
        "POST",
        "/api/v1/conversations/{conversation}/assignment",
        lambda r: {"agent_id": None, "team_id": None},
        MANAGERS,
    ),
    ("POST", "/api/v1/conversations/{conversation}/route", None, MANAGERS),
    ("GET", "/api/v1/routing/settings", None, MANAGERS),
    ("PATCH", "/api/v1/routing/settings", {"sla_warning_minutes": 5}, ADMIN),
    ("GET", "/api/v1/conversations/{conversation}/sla", None, ALL),
    ("GET", "/api/v1/sla-policies", None, ALL),
    ("POST", "/api/v1/sla-policies", {"name": "p", "first_response_minutes": 30}, ADMIN),
    ("PATCH", "/api/v1/sla-policies/{policy}", {"resolution_minutes": 600}, ADMIN),
    ("DELETE", "/api/v1/sla-policies/{policy}", None, ADMIN),
    ("GET", "/api/v1/business-calendars", None, ALL),
    ("POST", "/api/v1/business-calendars", {"name": "c", "schedule": {"tue": [["08:00", "12:00"]]}}, ADMIN),
    ("PATCH", "/api/v1/business-calendars/{calendar}", {"closed_days": ["2026-12-24"]}, ADMIN),
    ("DELETE", "/api/v1/business-calendars/{calendar}", None, ADMIN),
    ("GET", "/api/v1/automation/rules", None, MANAGERS),
    ("GET", "/api/v1/automation/rules/{rule}", None, MANAGERS),
    (
        "POST",
        "/api/v1/automation/rules",
        {"name": "n", "event": "sla_breach", "actions": [{"type": "escalate"}]},
        ADMIN,
    ),
    ("PATCH", "/api/v1/automation/rules/{rule}", {"active": False}, ADMIN),
    ("POST", "/api/v1/automation/rules/{rule}/dry-run", None, MANAGERS),
    ("POST", "/api/v1/automation/dry-run", {"event": "message_created"}, MANAGERS),
    ("GET", "/api/v1/automation/runs", None, MANAGERS),
    ("DELETE", "/api/v1/automation/rules/{rule}", None, ADMIN),
]


def _body(body, role):
    return body(role) if callable(body) else body


def test_every_endpoint_needs_a_token(client, world):
    for method, path, body, _ in ENDPOINTS:
        response = client.request(method, path.format(**vars(world)), json=_body(body, "none"))
        assert response.status_code == 401, (method, path)


@pytest.mark.parametrize("role", ALL)
def test_each_role_against_each_endpoint(client, world, role):
    """One fresh world per role; every endpoint in order (refusals must change nothing)."""
    wrong = []
    for method, path, body, allowed in ENDPOINTS:
        response = client.request(
            method, path.format(**vars(world)), json=_body(body, role), headers=world.headers[role]
        )
        expected_ok = role in allowed
        if expected_ok != (response.status_code < 300) or (not expected_ok and response.status_code != 403):
            wrong.append((method, path, response.status_code, response.text[:120]))
        if not expected_ok and "detail" not in response.json():
            wrong.append((method, path, "no detail"))
    assert wrong == []


def test_an_agent_takes_a_conversation_for_itself_but_not_for_a_colleague(client, world):
    url = f"/api/v1/conversations/{world.conversation}/assignment"
    agent = world.headers["agent"]
    refused = client.post(url, json={"agent_id": world.colleague}, headers=agent)
    assert refused.status_code == 403 and "itself" in refused.json()["detail"]
    taken = client.post(url, json={"agent_id": world.me}, headers=agent)
    assert taken.status_code == 200 and taken.json()["agent_id"] == world.me
    assert taken.json()["team_id"] == world.team
    released = client.post(f"/api/v1/conversations/{world.mine}/assignment", json={}, headers=agent)
    assert released.status_code == 200 and released.json()["agent_id"] is None


BAD_INPUT = [
    ("POST", "/api/v1/agents", {"email": "nope", "name": "X"}, 422, "not an email"),
    ("POST", "/api/v1/agents", {"email": "a@b.co", "name": "X", "password": "123"}, 422, "at least 8"),
    ("POST", "/api/v1/agents", {"email": "a@b.co", "name": "X", "role": "root"}, 422, "role"),
    ("POST", "/api/v1/agents", {"email": "a@b.co", "name": "X", "shoe_size": 44}, 422, "shoe_size"),
    ("POST", "/api/v1/agents", {"email": "a@b.co", "name": "X", "teams": ["ghosts"]}, 404, "ghosts"),
    ("PATCH", "/api/v1/agents/99999", {"capacity": 2}, 404, "does not exist"),
    ("POST", "/api/v1/teams", {"slug": "care", "name": "Again"}, 409, "already exists"),
    ("POST", "/api/v1/teams", {"slug": "Bad Slug", "name": "X"}, 422, "lowercase"),
    ("POST", "/api/v1/teams", {"slug": "tz", "name": "X", "timezone": "Moon/Base"}, 422, "timezone"),
    ("POST", "/api/v1/conversations/99999/assignment", {"agent_id": None}, 404, "does not exist"),
    ("POST", "/api/v1/conversations/{conversation}/assignment", {"agent_id": 99999}, 404, "agent 99999"),
    ("POST", "/api/v1/sla-policies", {"name": "empty"}, 422, "at least one target"),
    ("POST", "/api/v1/sla-policies", {"name": "p", "first_response_minutes": 0}, 422, "minutes"),
    (
        "POST",
        "/api/v1/sla-policies",
        {"name": "p", "priority": "asap", "first_response_minutes": 5},
        422,
        "priority",
    ),
    (
        "POST",
        "/api/v1/business-calendars",
        {"name": "c", "schedule": {"mon": [["9", "5"]]}},
        422,
        "time of day",
    ),
    (
        "POST",
        "/api/v1/business-calendars",
        {"name": "c", "team_id": {"x": 1}, "schedule": {}},
        422,
        "team_id",
    ),
    (
        "PATCH",
        "/api/v1/routing/settings",
        {"senior_urgency_threshold": 500},
        422,
        "senior_urgency_threshold",
    ),
    (
        "POST",
        "/api/v1/automation/rules",
        {"name": "n", "event": "x", "actions": [{"type": "resolve"}]},
        422,
        "unknown event",
    ),
    (
        "POST",
        "/api/v1/automation/dry-run",
        {"event": "message_created", "conditions": {"any": 3}},
        422,
        "non-empty list",
    ),
    ("GET", "/api/v1/conversations/99999/sla", None, 404, "does not exist"),
    ("GET", "/api/v1/automation/rules/99999", None, 404, "does not exist"),
]


def test_bad_input_gets_a_clear_4xx_and_changes_nothing(client, session, world):
    agents_before = session.scalar(select(Agent.id).order_by(Agent.id.desc()).limit(1))
    wrong = []
    for method, path, body, status, words in BAD_INPUT:
        response = client.request(
            method, path.format(**vars(world)), json=body, headers=world.headers["admin"]
        )
        if response.status_code != status or words not in response.text:
            wrong.append((method, path, body, response.status_code, response.text[:160]))
    assert wrong == []
    session.expire_all()
    assert session.scalar(select(Agent.id).order_by(Agent.id.desc()).limit(1)) == agents_before


def test_creating_an_agent_is_audited_and_never_shows_the_password(client, session, world):
    response = client.post(
        "/api/v1/agents",
        json={
            "email": "Lea@Example.com",
            "name": "Lea",
            "password": "s3cret-pass",
            "languages": ["de"],
            "teams": ["care"],
        },
        headers=world.headers["admin"],
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "lea@example.com" and body["team_ids"] == [world.team]
    assert "password" not in response.text and "argon2" not in response.text
    session.expire_all()
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "agent.create")).one()
    assert entry.actor.startswith("token:admin") and entry.target == f"agent:{body['id']}"


def test_sla_endpoint_shows_policy_clocks_and_alerts(client, session, world):
    response = client.get(f"/api/v1/conversations/{world.conversation}/sla", headers=world.headers["agent"])
    assert response.status_code == 200
    body = response.json()
    assert body["policy"]["name"] == "std"
    first = next(c for c in body["clocks"] if c["target"] == "first_response")
    assert first["state"] == "running" and first["target_minutes"] == 60
    assert first["breached"] is True  # started at a fixed time in the past
    assert body["alerts"] == []


def test_the_queue_endpoint_lists_waiting_conversations_by_priority(client, session, world):
    from socialdesk.conversations.models import Conversation

    urgent = f.conversation(
        session, team_id=world.team, priority="urgent", first_response_due_at=f.T0 + timedelta(hours=1)
    )
    session.commit()
    ids = [
        c["id"]
        for c in client.get(f"/api/v1/teams/{world.team}/queue", headers=world.headers["agent"]).json()
    ]
    assert ids == [urgent.id, world.conversation]
    assert session.get(Conversation, world.mine).id not in ids  # assigned ones are not waiting


def test_openapi_documents_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/agents",
        "/api/v1/teams/{team_id}/queue",
        "/api/v1/conversations/{conversation_id}/sla",
        "/api/v1/automation/rules/{rule_id}/dry-run",
        "/api/v1/sla-policies",
        "/api/v1/routing/settings",
    ):
        assert path in paths
