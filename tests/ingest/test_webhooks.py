"""Webhooks over HTTP: handshake, signature, durable storage, idempotency, dead letters."""

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from socialdesk.conversations.models import Conversation, Message
from socialdesk.ingest.models import DeadLetter
from socialdesk.platforms.base import AccountCredentials
from socialdesk.platforms.registry import sign
from tests import factories

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms"
# Fixtures beside the deliveries that no platform posts to a webhook (the analytics domain's
# engagement-metrics API responses).
NOT_DELIVERIES = {
    "youtube/videos_list_statistics.json",
    "facebook/object_reactions_summary.json",
    "instagram/media_insights.json",
}


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def creds(account) -> AccountCredentials:
    return AccountCredentials(
        external_id=account.external_id,
        handle=account.handle,
        app_secret=account.app_secret,
        verify_token=account.verify_token,
    )


def post(client, account, body: bytes, headers: dict | None = None):
    if headers is None:
        headers = sign(account.platform, body, creds(account))
    return client.post(
        f"/webhooks/{account.platform}/{account.slug}",
        content=body,
        headers={"content-type": "application/json", **headers},
    )


def counts(session) -> tuple[int, int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Message)),
        session.scalar(select(func.count()).select_from(Conversation)),
        session.scalar(select(func.count()).select_from(DeadLetter)),
    )


@pytest.fixture
def whatsapp(session):
    account = factories.account(session, "whatsapp", slug="acme-wa", external_id="106540352242922")
    session.commit()
    return account


def test_meta_handshake_echoes_the_challenge_only_with_the_right_token(client, whatsapp):
    url = f"/webhooks/whatsapp/{whatsapp.slug}"
    ok = client.get(
        url,
        params={"hub.mode": "subscribe", "hub.verify_token": "verify-token", "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = client.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})
    assert bad.status_code == 403


def test_x_crc_answers_with_the_response_token(client, session):
    factories.account(session, "x", slug="acme-x")
    session.commit()
    response = client.get("/webhooks/x/acme-x", params={"crc_token": "challenge"})
    assert response.status_code == 200
    assert response.json()["response_token"].startswith("sha256=")


def test_a_signed_delivery_is_stored_once_however_often_it_arrives(client, session, whatsapp):
    body = (FIXTURES / "whatsapp" / "messages_text.json").read_bytes()
    first = post(client, whatsapp, body)
    assert first.status_code == 200 and first.json()["messages"] == 1
    again = post(client, whatsapp, body)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert counts(session)[:2] == (1, 1)
    message = session.scalars(select(Message)).one()
    assert message.text == "Does it come in another color?"
    assert message.raw["from"] == "16505551234"


def test_a_bad_or_missing_signature_is_401_and_stores_nothing(client, session, whatsapp):
    body = (FIXTURES / "whatsapp" / "messages_text.json").read_bytes()
    assert post(client, whatsapp, body, {"x-hub-signature-256": "sha256=" + "0" * 64}).status_code == 401
    assert post(client, whatsapp, body, {}).status_code == 401
    assert counts(session) == (0, 0, 0)


def test_malformed_json_is_400_and_changes_nothing(client, session, whatsapp):
    post(client, whatsapp, (FIXTURES / "whatsapp" / "messages_text.json").read_bytes())
    before = counts(session)
    response = post(client, whatsapp, b'{"object": "whatsapp_business_account", ')
    assert response.status_code == 400 and "not valid JSON" in response.json()["detail"]
    assert counts(session) == before


def test_json_no_connector_recognises_becomes_a_dead_letter_with_its_reason(client, session, whatsapp):
    body = json.dumps({"hello": "world"}).encode()
    response = post(client, whatsapp, body)
    assert response.status_code == 200
    assert response.json()["status"] == "dead_letter"
    letter = session.scalars(select(DeadLetter)).one()
    assert letter.reason and letter.payload == body.decode()
    assert counts(session)[:2] == (0, 0)


def test_an_unknown_account_or_platform_is_404(client, whatsapp):
    body = b"{}"
    assert client.post("/webhooks/whatsapp/nobody", content=body).status_code == 404
    response = client.post("/webhooks/myspace/acme", content=body)
    assert response.status_code == 404 and "unknown platform" in response.json()["detail"]


def test_status_events_update_delivery_state_instead_of_becoming_messages(client, session, whatsapp):
    status_body = json.loads((FIXTURES / "whatsapp" / "status_delivered.json").read_text())
    statuses = status_body["entry"][0]["changes"][0]["value"]["statuses"]
    outbound = Message(
        account_id=whatsapp.id,
        platform="whatsapp",
        direction="outbound",
        external_id=statuses[0]["id"],
        thread_key="x",
        delivery_status="sent",
    )
    session.add(outbound)
    session.commit()
    response = post(client, whatsapp, json.dumps(status_body).encode())
    assert response.status_code == 200 and response.json()["statuses"] == 1
    session.refresh(outbound)
    assert outbound.delivery_status == "delivered"
    assert counts(session)[0] == 1


def test_every_platform_fixture_goes_in_through_its_webhook(client, session):
    brand = factories.brand(session, "multi")
    accounts = {}
    for platform in ("x", "facebook", "messenger", "instagram", "whatsapp", "telegram", "youtube"):
        accounts[platform] = factories.account(session, platform, slug=f"multi-{platform}", brand_obj=brand)
    session.commit()
    stored = {platform: 0 for platform in accounts}
    for platform, account in accounts.items():
        for path in sorted((FIXTURES / platform).glob("*.json")):
            if f"{platform}/{path.name}" in NOT_DELIVERIES:
                continue
            response = post(client, account, path.read_bytes())
            assert response.status_code == 200, (path.name, response.text)
            assert response.json()["status"] == "ok", (path.name, response.json())
            stored[platform] += response.json()["messages"]
    assert all(stored.values()), stored
    assert counts(session)[0] == sum(stored.values())
    assert counts(session)[2] == 0
