"""Messenger Platform messaging events, from Meta's reference examples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialdesk.platforms.base import AccountCredentials, PayloadError
from socialdesk.platforms.messenger import CONNECTOR
from tests.platforms.conftest import load

PAGE = AccountCredentials(external_id="<PAGE_ID>")


def test_text_message_event() -> None:
    payload = load("messenger", "messages_text_event")
    (message,) = CONNECTOR.parse(payload, PAGE).messages
    assert message.platform == "messenger"
    assert message.external_id == "mid.1457764197618:41d102a3e1ae206a38"
    assert message.thread_key == "<PSID>"
    assert message.author_id == "<PSID>"
    assert message.text == "hello, world!"
    assert message.sent_at == datetime(2016, 3, 23, 0, 25, 52, 478000, tzinfo=UTC)
    assert message.is_public is False
    assert message.reply_to_external_id is None
    assert message.direction == "inbound"
    assert message.raw == payload


def test_reply_message_event_keeps_the_replied_mid() -> None:
    (message,) = CONNECTOR.parse(load("messenger", "messages_reply_event"), PAGE).messages
    assert message.external_id == "m_1457764197618:41d102a3e1ae206a38"
    assert message.reply_to_external_id == "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"


def test_echo_of_our_own_message_is_outbound_on_the_customer_thread() -> None:
    (message,) = CONNECTOR.parse(load("messenger", "webhook_message_echo"), PAGE).messages
    assert message.direction == "outbound"
    assert message.thread_key == "12345654332"  # the recipient of an echo is the customer
    assert message.sent_at == datetime(2016, 3, 12, 6, 29, 57, 627000, tzinfo=UTC)


def test_delivery_is_a_status_update_not_a_message() -> None:
    result = CONNECTOR.parse(load("messenger", "webhook_delivery"), PAGE)
    assert result.messages == []
    (status,) = result.statuses
    assert status.external_id == "mid.1458668856218:ed81099e15d3f4f233"
    assert status.status == "delivered"
    assert status.at == datetime(2016, 3, 22, 17, 47, 36, 253000, tzinfo=UTC)


def test_read_receipt_is_ignored() -> None:
    result = CONNECTOR.parse(load("messenger", "message_reads_event"), PAGE)
    assert result.messages == [] and result.statuses == []


def test_unknown_payload_is_an_error() -> None:
    with pytest.raises(PayloadError, match="messenger"):
        CONNECTOR.parse({"foo": 1}, PAGE)
