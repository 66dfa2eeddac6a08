"""YouTube commentThreads list responses, as our poller posts them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialdesk.platforms.base import AccountCredentials, PayloadError
from socialdesk.platforms.youtube import CONNECTOR
from tests.platforms.conftest import load

CHANNEL = AccountCredentials(external_id="UC8-VPb0BrTumJCcAk5kKD8w")


def test_thread_with_a_reply() -> None:
    payload = load("youtube", "comment_threads_list")
    top, reply = CONNECTOR.parse(payload, CHANNEL).messages
    assert top.platform == "youtube"
    assert top.external_id == "UgxXfLfuryhN5JBV4Zl4AaABAg"
    assert top.thread_key == "UgxXfLfuryhN5JBV4Zl4AaABAg"
    assert top.author_id == "UCINOM9YliYsdtygvrjeT_Pg"
    assert top.author_handle == "test_user"
    assert top.author_name == "@test_user"
    assert top.text == "test comment"
    assert top.sent_at == datetime(2024, 9, 23, 19, 6, 29, tzinfo=UTC)
    assert top.is_public is True
    assert top.reply_to_external_id is None
    assert top.direction == "inbound"
    assert top.raw == payload["items"][0]["snippet"]["topLevelComment"]

    assert reply.external_id == "UgxXfLfuryhN5JBV4Zl4AaABAg.A8jq-geGgIoA8k_tlJmJ7O"
    assert reply.thread_key == "UgxXfLfuryhN5JBV4Zl4AaABAg"
    assert reply.reply_to_external_id == "UgxXfLfuryhN5JBV4Zl4AaABAg"
    assert reply.author_handle == "testreplier"
    assert reply.text == "test_reply"  # textOriginal, not the HTML textDisplay
    assert reply.sent_at == datetime(2024, 9, 24, 2, 4, 58, tzinfo=UTC)


def test_top_level_threads_each_get_their_own_thread_key() -> None:
    first, second = CONNECTOR.parse(load("youtube", "comment_threads_list_top_level"), CHANNEL).messages
    assert first.thread_key == "UgyfJncEva22uTonShF4AaABAg"
    assert second.thread_key == "UgwxApqcfzZzF_C5Zqx4AaABAg"
    assert first.author_name == "pajaro amarillo"
    assert first.author_handle == ""
    assert second.text == "This video is awesome! GOOD"


def test_a_comment_by_the_channel_is_outbound() -> None:
    ours = AccountCredentials(external_id="UCKwXRwa85ANLLkKTWVypkAQ")
    _, reply = CONNECTOR.parse(load("youtube", "comment_threads_list"), ours).messages
    assert reply.direction == "outbound"


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(PayloadError, match="youtube"):
        CONNECTOR.parse({"kind": "youtube#videoListResponse", "items": []}, CHANNEL)
