"""The conversation action endpoints: clear errors that change nothing, and who may do what."""

from __future__ import annotations

from sqlalchemy import select

from socialdesk.auth.models import AuditEntry
from socialdesk.conversations.models import Conversation, ConversationEvent
from tests.outbox import factories as f


def test_status_priority_labels_and_notes_over_http_record_the_calling_agent(session, client):
    anna = f.agent(session, "Anna Berg", email="anna@desk.example")
    conversation = f.conversation(session)
    auth = f.headers(session, "agent", anna)
    url = f"/api/v1/conversations/{conversation.id}"

    assert (
        client.post(f"{url}/status", json={"status": "pending"}, headers=auth).json()["status"] == "pending"
    )
    assert (
        client.post(f"{url}/priority", json={"priority": "high"}, headers=auth).json()["priority"] == "high"
    )
    body = client.post(f"{url}/labels", json={"add": ["Refund"]}, headers=auth).json()
    assert body["labels"] == ["refund"]
    note = client.post(f"{url}/notes", json={"body": "@anna look"}, headers=auth)
    assert note.status_code == 201 and note.json()["mentions"] == [anna.id]
    assert [n["body"] for n in client.get(f"{url}/notes", headers=auth).json()] == ["@anna look"]

    timeline = client.get(f"{url}/events", headers=auth).json()
    mine = [
        e
        for e in timeline
        if e["kind"] in ("status_changed", "priority_changed", "labels_added", "note_added")
    ]
    assert len(mine) == 4 and {e["actor_agent_id"] for e in mine} == {anna.id}


def test_bad_requests_get_clear_errors_and_change_nothing(session, client):
    conversation = f.conversation(session)
    auth = f.headers(session, "agent", f.agent(session))
    url = f"/api/v1/conversations/{conversation.id}"
    back = client.post(f"{url}/status", json={"status": "snoozed"}, headers=auth)
    assert back.status_code == 409 and "needs snooze_until" in back.json()["detail"]
    unknown = client.post(f"{url}/status", json={"status": "sleeping"}, headers=auth)
    assert unknown.status_code == 409 and "unknown status" in unknown.json()["detail"]
    assert client.post(f"{url}/priority", json={"priority": "asap"}, headers=auth).status_code == 422
    assert client.post(f"{url}/labels", json={}, headers=auth).status_code == 422
    assert client.post(f"{url}/notes", json={"body": " "}, headers=auth).status_code == 422
    missing = client.post("/api/v1/conversations/999999/status", json={"status": "open"}, headers=auth)
    assert missing.status_code == 404 and "does not exist" in missing.json()["detail"]
    # There is no way to act "as" somebody else: unknown fields are refused.
    spoof = client.post(f"{url}/notes", json={"body": "hi", "author_agent_id": 1}, headers=auth)
    assert spoof.status_code == 422
    session.expire_all()
    stored = session.get(Conversation, conversation.id)
    assert (stored.status, stored.priority, stored.labels) == ("new", "normal", [])
    kinds = session.scalars(
        select(ConversationEvent.kind).where(ConversationEvent.conversation_id == conversation.id)
    ).all()
    assert kinds == ["created", "message_in"]


def test_no_token_no_action(session, client):
    conversation = f.conversation(session)
    response = client.post(f"/api/v1/conversations/{conversation.id}/status", json={"status": "open"})
    assert response.status_code == 401


def test_bulk_endpoint_resolves_by_ids_and_audits(session, client):
    convs = [f.conversation(session) for _ in range(3)]
    auth = f.headers(session, "supervisor", f.agent(session, "Sam Lead", role="supervisor"))
    response = client.post(
        "/api/v1/conversations/bulk", json={"action": "resolve", "ids": [c.id for c in convs]}, headers=auth
    )
    assert response.status_code == 200
    assert response.json()["done"] == [c.id for c in convs]
    session.expire_all()
    assert {session.get(Conversation, c.id).status for c in convs} == {"resolved"}
    assert session.scalars(select(AuditEntry.action)).all()[-1] == "conversations.bulk.resolve"


def test_an_agent_may_bulk_assign_to_themselves_but_not_to_a_colleague(session, client):
    anna, ben = f.agent(session, "Anna Berg"), f.agent(session, "Ben Ode")
    convs = [f.conversation(session) for _ in range(2)]
    auth = f.headers(session, "agent", anna)
    ids = [c.id for c in convs]
    refused = client.post(
        "/api/v1/conversations/bulk", json={"action": "assign", "ids": ids, "agent_id": ben.id}, headers=auth
    )
    assert refused.status_code == 403
    assert "only to themselves" in refused.json()["detail"]
    ok = client.post(
        "/api/v1/conversations/bulk", json={"action": "assign", "ids": ids, "agent_id": anna.id}, headers=auth
    )
    assert ok.status_code == 200 and ok.json()["done"] == ids


def test_bulk_filter_errors_are_422(session, client):
    auth = f.headers(session, "admin")
    response = client.post(
        "/api/v1/conversations/bulk",
        json={"action": "resolve", "filter": {"status": ["sleeping"]}},
        headers=auth,
    )
    assert response.status_code == 422 and "unknown status" in response.json()["detail"]
