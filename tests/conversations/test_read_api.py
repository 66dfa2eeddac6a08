"""The read API: token-protected, filtered, cursor-paginated, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest

from socialdesk.auth.service import create_token
from socialdesk.ingest.service import Ingestor, IngestReport
from tests import factories


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


@pytest.fixture
def token(session) -> str:
    value = create_token(session, "tests", role="admin")
    session.commit()
    return value


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def inbox(session):
    """25 conversations on X and 5 on WhatsApp, one minute apart."""
    brand = factories.brand(session, "acme")
    x = factories.account(session, "x", slug="acme-x", brand_obj=brand)
    wa = factories.account(session, "whatsapp", slug="acme-wa", brand_obj=brand)
    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    ingestor, report = Ingestor(session), IngestReport()
    for n in range(30):
        account = x if n < 25 else wa
        ingestor.store(
            account,
            factories.inbound(
                f"m{n}", author_id=f"a{n}", platform=account.platform, sent_at=t0 + timedelta(minutes=n)
            ),
            report,
        )
    ingestor.finish(report)
    session.commit()
    return brand


def test_the_api_needs_a_valid_token(client, inbox):
    assert client.get("/api/v1/conversations").status_code == 401
    response = client.get("/api/v1/conversations", headers=auth("sdk_wrong"))
    assert response.status_code == 401 and "unknown or revoked" in response.json()["detail"]


def test_cursor_pagination_walks_every_conversation_once_newest_first(client, inbox, token):
    seen, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/conversations", params=params, headers=auth(token)).json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 30
    times = [
        c["last_message_at"]
        for c in client.get("/api/v1/conversations", params={"limit": 200}, headers=auth(token)).json()[
            "items"
        ]
    ]
    assert times == sorted(times, reverse=True)


def test_filters_by_platform_status_brand_assignee_and_since(client, inbox, token):
    def count(**params) -> int:
        response = client.get("/api/v1/conversations", params={"limit": 200, **params}, headers=auth(token))
        assert response.status_code == 200, response.text
        return len(response.json()["items"])

    assert count(platform="whatsapp") == 5
    assert count(status="new") == 30 and count(status="resolved") == 0
    assert count(brand="acme") == 30
    assert count(assignee="none") == 30
    assert count(since="2026-11-02T09:20:00Z") == 10


def test_bad_filters_and_cursors_are_422_with_a_message(client, inbox, token):
    for params, needle in [
        ({"status": "sleeping"}, "unknown status"),
        ({"brand": "nope"}, "no brand"),
        ({"cursor": "!!!"}, "invalid cursor"),
        ({"assignee": "bob"}, "assignee"),
    ]:
        response = client.get("/api/v1/conversations", params=params, headers=auth(token))
        assert response.status_code == 422 and needle in response.text


def test_a_conversation_comes_with_its_messages(client, inbox, token):
    first = client.get("/api/v1/conversations", params={"limit": 1}, headers=auth(token)).json()["items"][0]
    detail = client.get(f"/api/v1/conversations/{first['id']}", headers=auth(token)).json()
    assert [m["external_id"] for m in detail["messages"]] == ["m29"]
    assert client.get("/api/v1/conversations/999999", headers=auth(token)).status_code == 404


def test_a_customer_shows_identities_and_conversations_and_can_be_merged_and_split(client, inbox, token):
    items = client.get("/api/v1/conversations", params={"limit": 200}, headers=auth(token)).json()["items"]
    x_customer = next(c["customer_id"] for c in items if c["platform"] == "x")
    wa_customer = next(c["customer_id"] for c in items if c["platform"] == "whatsapp")
    merged = client.post(
        f"/api/v1/customers/{x_customer}/merge", json={"merge_customer_id": wa_customer}, headers=auth(token)
    )
    assert merged.status_code == 200
    body = merged.json()
    assert {i["platform"] for i in body["identities"]} == {"x", "whatsapp"}
    assert {c["platform"] for c in body["conversations"]} == {"x", "whatsapp"}
    assert client.get(f"/api/v1/customers/{wa_customer}", headers=auth(token)).status_code == 404

    wa_identity = next(i["id"] for i in body["identities"] if i["platform"] == "whatsapp")
    split = client.post(f"/api/v1/customers/identities/{wa_identity}/split", headers=auth(token)).json()
    assert [c["platform"] for c in split["conversations"]] == ["whatsapp"]
    again = client.post(f"/api/v1/customers/identities/{wa_identity}/split", headers=auth(token))
    assert again.status_code == 422 and "only this identity" in again.json()["detail"]


def test_dead_letters_are_visible_to_admins_not_to_agents(client, session, token):
    from socialdesk.ingest.service import record_dead_letter

    record_dead_letter(session, source="webhook", reason="unrecognised payload", payload="{}")
    agent_token = create_token(session, "agent", role="agent")
    session.commit()
    listed = client.get("/api/v1/dead-letters", headers=auth(token))
    assert listed.status_code == 200 and listed.json()[0]["reason"] == "unrecognised payload"
    assert client.get("/api/v1/dead-letters", headers=auth(agent_token)).status_code == 403


def test_openapi_documents_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/conversations" in paths and "/webhooks/{platform}/{account}" in paths
    assert client.get("/docs").status_code == 200
