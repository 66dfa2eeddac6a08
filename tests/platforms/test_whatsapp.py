"""WhatsApp Cloud API webhooks, from Meta's messages webhook reference."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialdesk.platforms.base import AccountCredentials, PayloadError
from socialdesk.platforms.whatsapp import CONNECTOR
from tests.platforms.conftest import load

NUMBER = AccountCredentials(external_id="106540352242922")


def test_text_message_threads_on_the_wa_id() -> None:
    payload = load("whatsapp", "messages_text")
    result = CONNECTOR.parse(payload, NUMBER)
    assert result.statuses == []
    (message,) = result.messages
    assert message.platform == "whatsapp"
    assert message.external_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert message.thread_key == "16505551234"
    assert message.author_id == "16505551234"
    assert message.author_name == "Sheena Nelson"
    assert message.text == "Does it come in another color?"
    assert message.sent_at == datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)
    assert message.is_public is False
    assert message.direction == "inbound"
    assert message.reply_to_external_id is None
    assert message.raw == payload["entry"][0]["changes"][0]["value"]["messages"][0]


def test_image_caption_becomes_the_text() -> None:
    (message,) = CONNECTOR.parse(load("whatsapp", "messages_image_value"), NUMBER).messages
    assert message.text == "Taj Mahal"
    assert message.sent_at == datetime(2025, 4, 11, 4, 8, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "status", "at", "error"),
    [
        ("status_sent", "sent", datetime(2025, 6, 15, 23, 27, 53, tzinfo=UTC), ""),
        ("status_delivered", "delivered", datetime(2025, 6, 18, 16, 22, 53, tzinfo=UTC), ""),
        ("status_failed", "failed", datetime(2025, 6, 28, 20, 34, 48, tzinfo=UTC), "131049"),
    ],
)
def test_statuses_are_status_updates_not_messages(name: str, status: str, at: datetime, error: str) -> None:
    payload = load("whatsapp", name)
    result = CONNECTOR.parse(payload, NUMBER)
    assert result.messages == []
    (update,) = result.statuses
    assert update.platform == "whatsapp"
    assert update.external_id == payload["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
    assert update.status == status
    assert update.at == at
    assert update.error.startswith(error)


def test_other_objects_are_errors() -> None:
    with pytest.raises(PayloadError):
        CONNECTOR.parse({"object": "page", "entry": []}, NUMBER)
    with pytest.raises(PayloadError):
        CONNECTOR.parse({"unrelated": True}, NUMBER)


def test_image_value_inside_the_documented_envelope() -> None:
    envelope = load("whatsapp", "messages_text")
    envelope["entry"][0]["changes"][0]["value"] = load("whatsapp", "messages_image_value")
    (message,) = CONNECTOR.parse(envelope, NUMBER).messages
    assert message.text == "Taj Mahal"
    assert message.raw["type"] == "image"
