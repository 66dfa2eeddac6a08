"""Instagram comment and DM webhooks, from Meta's published examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialdesk.platforms.base import AccountCredentials, PayloadError
from socialdesk.platforms.instagram import CONNECTOR
from tests.platforms.conftest import load

BRAND = AccountCredentials(external_id="IGID", handle="acme")


def test_comment_threads_on_its_media() -> None:
    payload = load("instagram", "comments_field_sample")
    before = datetime.now(tz=UTC)
    (message,) = CONNECTOR.parse(payload, BRAND).messages
    assert message.platform == "instagram"
    assert message.external_id == "17865799348089039"
    assert message.thread_key == "123123123"
    assert message.reply_to_external_id == "1231231234"
    assert message.author_id == "232323232"
    assert message.author_handle == "test"
    assert message.text == "This is an example."
    assert message.is_public is True
    assert message.direction == "inbound"
    # Comment webhooks carry no time: parsing time stands in, in UTC.
    assert message.sent_at.tzinfo is not None and message.sent_at >= before
    assert message.raw == payload["value"]


def test_comment_in_an_envelope_uses_the_entry_time() -> None:
    change = load("instagram", "comments_field_sample")
    payload = {"object": "instagram", "entry": [{"id": "IGID", "time": 1695061705, "changes": [change]}]}
    (message,) = CONNECTOR.parse(payload, BRAND).messages
    assert message.sent_at == datetime(2023, 9, 18, 18, 28, 25, tzinfo=UTC)


def test_a_comment_by_our_handle_is_outbound() -> None:
    ours = AccountCredentials(handle="@Test")
    (message,) = CONNECTOR.parse(load("instagram", "comments_field_sample"), ours).messages
    assert message.direction == "outbound"


def test_dm_threads_on_the_customers_igsid() -> None:
    payload = load("instagram", "messaging_text")
    (message,) = CONNECTOR.parse(payload, BRAND).messages
    assert message.external_id == "MESSAGE-ID"
    assert message.thread_key == "IGSID"
    assert message.author_id == "IGSID"
    assert message.text == "MESSAGE-TEXT"
    assert message.sent_at == datetime(2019, 9, 23, 18, 14, 45, 349000, tzinfo=UTC)
    assert message.is_public is False
    assert message.direction == "inbound"


def test_page_payload_is_not_instagram() -> None:
    with pytest.raises(PayloadError):
        CONNECTOR.parse({"object": "page", "entry": []}, BRAND)
