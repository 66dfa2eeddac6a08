"""Facebook Page feed webhooks, parsed from real captured payloads (restfb test data)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialdesk.platforms.base import AccountCredentials, PayloadError
from socialdesk.platforms.facebook import CONNECTOR
from tests.platforms.conftest import load

PAGE = AccountCredentials(external_id="1234567890321")
OTHER_PAGE = AccountCredentials(external_id="555")


def test_feed_comment_threads_on_its_post() -> None:
    payload = load("facebook", "feed_comment_add")
    (message,) = CONNECTOR.parse(payload, OTHER_PAGE).messages
    assert message.platform == "facebook"
    assert message.external_id == "901097836652708_903438993085259"
    assert message.thread_key == "1234567890321_901097836652708"
    assert message.reply_to_external_id == "1234567890321_901097836652708"
    assert message.author_id == "1234567890321"
    assert message.author_name == "Tester"
    assert message.text == "and the next one"
    assert message.sent_at == datetime(2015, 12, 3, 9, 30, 3, tzinfo=UTC)
    assert message.is_public is True
    assert message.direction == "inbound"
    assert message.raw == payload["entry"][0]["changes"][0]["value"]


def test_a_comment_by_the_page_itself_is_outbound() -> None:
    (message,) = CONNECTOR.parse(load("facebook", "feed_comment_add"), PAGE).messages
    assert message.direction == "outbound"


def test_feed_post_starts_its_own_thread() -> None:
    (message,) = CONNECTOR.parse(load("facebook", "feed_status_add"), OTHER_PAGE).messages
    assert message.external_id == "1234567890321_930145403745849"
    assert message.thread_key == "1234567890321_930145403745849"
    assert message.author_id == "1234567890321"
    assert message.author_name == "Tester"
    assert message.text == "This is just a short test message"
    assert message.sent_at == datetime(2015, 11, 27, 14, 3, 58, tzinfo=UTC)
    assert message.reply_to_external_id is None


def test_messaging_on_the_page_webhook_is_read_as_messenger() -> None:
    (message,) = CONNECTOR.parse(load("messenger", "webhook_message_echo"), OTHER_PAGE).messages
    assert message.platform == "messenger"


def test_edits_and_reactions_are_ignored() -> None:
    payload = load("facebook", "feed_comment_add")
    payload["entry"][0]["changes"][0]["value"]["verb"] = "edited"
    assert CONNECTOR.parse(payload, PAGE).messages == []


def test_other_objects_are_payload_errors() -> None:
    with pytest.raises(PayloadError):
        CONNECTOR.parse({"object": "instagram", "entry": []}, PAGE)
    with pytest.raises(PayloadError):
        CONNECTOR.parse({"nothing": "here"}, PAGE)
