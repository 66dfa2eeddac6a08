"""Telegram Bot API Updates: Telegram's own webhook examples and a captured group update."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialdesk.platforms.base import AccountCredentials, PayloadError
from socialdesk.platforms.telegram import CONNECTOR
from tests.platforms.conftest import load

BOT = AccountCredentials(external_id="42", handle="DZAwalletBot")
OTHER_BOT = AccountCredentials(external_id="43", handle="acme_bot")


def test_private_message() -> None:
    payload = load("telegram", "update_message_private")
    (message,) = CONNECTOR.parse(payload, BOT).messages
    assert message.platform == "telegram"
    assert message.external_id == "1111111:1365"
    assert message.thread_key == "1111111"
    assert message.author_id == "1111111"
    assert message.author_handle == "Testusername"
    assert message.author_name == "Test Firstname Test Lastname"
    assert message.text == "/start"
    assert message.sent_at == datetime(2015, 9, 7, 17, 5, 32, tzinfo=UTC)
    assert message.is_public is False
    assert message.addressed_to_brand is True
    assert message.direction == "inbound"
    assert message.raw == payload["message"]


def test_reply_points_at_the_original_in_the_same_chat() -> None:
    (message,) = CONNECTOR.parse(load("telegram", "update_message_reply"), BOT).messages
    assert message.reply_to_external_id == "1111111:1334"


def test_edited_message_is_kept_beside_the_original() -> None:
    (message,) = CONNECTOR.parse(load("telegram", "update_edited_message"), BOT).messages
    assert message.external_id == "1111111:1365:edit:1441646600"
    assert message.reply_to_external_id == "1111111:1365"
    assert message.text == "Edited text"


def test_group_message_is_public_and_addressed_when_it_mentions_the_bot() -> None:
    (message,) = CONNECTOR.parse(load("telegram", "update_message_group"), BOT).messages
    assert message.external_id == "-205365134:6"
    assert message.thread_key == "-205365134"
    assert message.author_id == "249176760"
    assert message.author_handle == "ibnumaksum"
    assert message.author_name == "Kang iBNuX"
    assert message.text == "@DZAwalletBot kirim ke @ibnux"
    assert message.sent_at == datetime(2019, 11, 28, 5, 16, 56, tzinfo=UTC)
    assert message.is_public is True
    assert message.addressed_to_brand is True
    assert message.language_hint == "id"


def test_group_chatter_that_does_not_mention_us_is_not_addressed() -> None:
    (message,) = CONNECTOR.parse(load("telegram", "update_message_group"), OTHER_BOT).messages
    assert message.addressed_to_brand is False


def test_callback_query_is_recognised_and_ignored() -> None:
    result = CONNECTOR.parse(load("telegram", "update_callback_query"), BOT)
    assert result.messages == [] and result.statuses == []


def test_not_an_update_is_an_error() -> None:
    with pytest.raises(PayloadError, match="telegram"):
        CONNECTOR.parse({"object": "page"}, BOT)
