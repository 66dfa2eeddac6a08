"""Sending against the local fake platform server: paths, bodies, ids, errors, retries."""

from __future__ import annotations

import httpx
import pytest

from socialdesk.platforms import facebook, instagram, messenger, telegram, whatsapp, x, youtube
from socialdesk.platforms.base import AccountCredentials, OutboundReply, SendError
from socialdesk.platforms.fake_server import RunningFakeServer, free_port


def account(fake: RunningFakeServer, **kw: str) -> AccountCredentials:
    return AccountCredentials(access_token="tok-123", api_base_url=fake.base_url, **kw)


def reply(**kw: object) -> OutboundReply:
    fields: dict[str, object] = {
        "text": "Sorry about that! We're on it.",
        "thread_key": "t1",
        "reply_to_external_id": None,
        "recipient_id": "",
        "is_public": True,
    }
    fields.update(kw)
    return OutboundReply(**fields)  # type: ignore[arg-type]


def test_x_public_reply_posts_a_tweet(fake: RunningFakeServer) -> None:
    result = x.CONNECTOR.send(reply(reply_to_external_id="1307025659294674945"), account(fake))
    (request,) = fake.requests
    assert request["path"] == "/2/tweets"
    assert request["json"] == {
        "text": "Sorry about that! We're on it.",
        "reply": {"in_reply_to_tweet_id": "1307025659294674945"},
    }
    assert request["headers"]["authorization"] == "Bearer tok-123"
    assert result.external_id == result.raw["data"]["id"]


def test_x_dm_goes_to_the_participant(fake: RunningFakeServer) -> None:
    result = x.CONNECTOR.send(reply(is_public=False, recipient_id="3001969357"), account(fake))
    (request,) = fake.requests
    assert request["path"] == "/2/dm_conversations/with/3001969357/messages"
    assert request["json"] == {"text": "Sorry about that! We're on it."}
    assert result.external_id == result.raw["data"]["dm_event_id"]


def test_facebook_comment_reply(fake: RunningFakeServer) -> None:
    target = "901097836652708_903438993085259"
    result = facebook.CONNECTOR.send(reply(reply_to_external_id=target), account(fake))
    (request,) = fake.requests
    assert request["path"] == f"/v23.0/{target}/comments"
    assert request["json"] == {"message": "Sorry about that! We're on it."}
    assert result.external_id == result.raw["id"]


def test_facebook_private_reply_goes_through_messenger(fake: RunningFakeServer) -> None:
    facebook.CONNECTOR.send(reply(is_public=False, recipient_id="psid-1"), account(fake))
    assert fake.requests[0]["path"] == "/v23.0/me/messages"


@pytest.mark.parametrize("connector", [messenger.CONNECTOR, instagram.CONNECTOR])
def test_dm_uses_the_send_api(connector: object, fake: RunningFakeServer) -> None:
    result = connector.send(reply(is_public=False, recipient_id="psid-1"), account(fake))  # type: ignore[attr-defined]
    (request,) = fake.requests
    assert request["path"] == "/v23.0/me/messages"
    assert request["json"] == {
        "recipient": {"id": "psid-1"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Sorry about that! We're on it."},
    }
    assert result.external_id == result.raw["message_id"]


def test_instagram_comment_reply(fake: RunningFakeServer) -> None:
    result = instagram.CONNECTOR.send(reply(reply_to_external_id="17865799348089039"), account(fake))
    (request,) = fake.requests
    assert request["path"] == "/v23.0/17865799348089039/replies"
    assert request["json"] == {"message": "Sorry about that! We're on it."}
    assert result.external_id == result.raw["id"]


def test_whatsapp_text_reply_quotes_the_customer_message(fake: RunningFakeServer) -> None:
    result = whatsapp.CONNECTOR.send(
        reply(is_public=False, thread_key="16505551234", reply_to_external_id="wamid.IN"),
        account(fake, external_id="106540352242922"),
    )
    (request,) = fake.requests
    assert request["path"] == "/v23.0/106540352242922/messages"
    assert request["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "Sorry about that! We're on it."},
        "context": {"message_id": "wamid.IN"},
    }
    assert result.external_id.startswith("wamid.")


def test_whatsapp_template_outside_the_window(fake: RunningFakeServer) -> None:
    whatsapp.CONNECTOR.send(
        reply(
            is_public=False,
            thread_key="16505551234",
            text="",
            template_name="order_update",
            template_language="de",
        ),
        account(fake, external_id="106540352242922"),
    )
    body = fake.requests[0]["json"]
    assert body["type"] == "template"
    assert body["template"] == {"name": "order_update", "language": {"code": "de"}}
    assert "text" not in body


def test_telegram_send_message_replies_in_the_chat(fake: RunningFakeServer) -> None:
    result = telegram.CONNECTOR.send(
        reply(is_public=False, thread_key="1111111", reply_to_external_id="1111111:1365"), account(fake)
    )
    (request,) = fake.requests
    assert request["path"] == "/bottok-123/sendMessage"
    assert request["json"] == {
        "chat_id": "1111111",
        "text": "Sorry about that! We're on it.",
        "reply_parameters": {"message_id": 1365, "allow_sending_without_reply": True},
    }
    assert result.external_id == f"1111111:{result.raw['result']['message_id']}"


def test_youtube_reply_to_a_thread(fake: RunningFakeServer) -> None:
    result = youtube.CONNECTOR.send(reply(thread_key="UgxXfLfuryhN5JBV4Zl4AaABAg"), account(fake))
    (request,) = fake.requests
    assert request["path"] == "/youtube/v3/comments"
    assert request["query"] == {"part": "snippet"}
    snippet = {"parentId": "UgxXfLfuryhN5JBV4Zl4AaABAg", "textOriginal": "Sorry about that! We're on it."}
    assert request["json"] == {"snippet": snippet}
    assert result.external_id == result.raw["id"]


# --- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_are_retryable(status: int, fake: RunningFakeServer) -> None:
    fake.fail_next(1, status=status, message="try later")
    with pytest.raises(SendError) as caught:
        x.CONNECTOR.send(reply(), account(fake))
    assert caught.value.retryable is True
    assert caught.value.status == status
    # The failure was one-off: the retry goes through.
    assert x.CONNECTOR.send(reply(), account(fake)).external_id


@pytest.mark.parametrize(
    ("connector", "kw"),
    [
        (x.CONNECTOR, {}),
        (facebook.CONNECTOR, {"reply_to_external_id": "1_2"}),
        (messenger.CONNECTOR, {"is_public": False, "recipient_id": "psid"}),
        (instagram.CONNECTOR, {"reply_to_external_id": "178"}),
        (whatsapp.CONNECTOR, {"is_public": False, "thread_key": "16505551234"}),
        (telegram.CONNECTOR, {"thread_key": "1111111"}),
        (youtube.CONNECTOR, {"thread_key": "Ugx"}),
    ],
)
def test_client_errors_are_final_and_carry_the_platform_text(
    connector: object, kw: dict[str, object], fake: RunningFakeServer
) -> None:
    fake.fail_next(1, status=400, message="(#100) Invalid parameter")
    with pytest.raises(SendError) as caught:
        connector.send(reply(**kw), account(fake, external_id="106540352242922"))  # type: ignore[attr-defined]
    assert caught.value.retryable is False
    assert caught.value.status == 400
    assert "(#100) Invalid parameter" in str(caught.value)


def test_unreachable_platform_is_retryable() -> None:
    dead = AccountCredentials(access_token="t", api_base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SendError) as caught:
        x.CONNECTOR.send(reply(), dead)
    assert caught.value.retryable is True


def test_idempotency_key_returns_the_same_id(fake: RunningFakeServer) -> None:
    first = x.CONNECTOR.send(reply(idempotency_key="msg-42"), account(fake))
    second = x.CONNECTOR.send(reply(idempotency_key="msg-42"), account(fake))
    third = x.CONNECTOR.send(reply(idempotency_key="msg-43"), account(fake))
    assert first.external_id == second.external_id != third.external_id
    assert fake.requests[0]["headers"]["idempotency-key"] == "msg-42"


def test_control_endpoints(fake: RunningFakeServer) -> None:
    with httpx.Client(base_url=fake.base_url) as client:
        assert client.post("/_fail", json={"count": 2, "status": 502}).json()["count"] == 2
        assert client.post("/2/tweets", json={"text": "a"}).status_code == 502
        assert client.post("/2/tweets", json={"text": "b"}).status_code == 502
        assert client.post("/2/tweets", json={"text": "c"}).status_code == 201
        sent = client.get("/_sent").json()
        assert [r["json"]["text"] for r in sent] == ["a", "b", "c"]
        client.post("/_reset")
        assert client.get("/_sent").json() == []
