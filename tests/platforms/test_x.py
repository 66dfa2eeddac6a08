"""X: API v2 objects, filtered stream and Account Activity events, parsed from doc payloads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialdesk.platforms.base import AccountCredentials, PayloadError
from socialdesk.platforms.x import CONNECTOR, leading_mentions, snowflake_time
from tests.platforms.conftest import load

TWITTERDEV = AccountCredentials(external_id="2244994945", handle="TwitterDev")
BRAND = AccountCredentials(external_id="999", handle="acme")


def test_v2_reply_with_includes_is_the_accounts_own_reply() -> None:
    payload = load("x", "tweet_lookup_reply_with_includes")
    (message,) = CONNECTOR.parse(payload, TWITTERDEV).messages
    assert message.platform == "x"
    assert message.external_id == "1212092628029698048"
    # No conversation_id requested: the replied-to Post is the thread root we know.
    assert message.thread_key == "1212092627178287104"
    assert message.reply_to_external_id == "1212092627178287104"
    assert message.author_id == "2244994945"
    assert message.text.startswith("We believe the best future version of our API")
    assert message.sent_at == datetime(2019, 12, 31, 19, 26, 16, tzinfo=UTC)
    assert message.is_public is True
    assert message.direction == "outbound"
    assert message.language_hint == "en"
    assert message.raw == payload["data"][0]


def test_v2_reply_to_someone_else_is_inbound_and_not_addressed_to_us() -> None:
    (message,) = CONNECTOR.parse(load("x", "tweet_lookup_reply_with_includes"), BRAND).messages
    assert message.direction == "inbound"
    assert message.addressed_to_brand is False


def test_v2_conversation_reply_threads_on_conversation_id() -> None:
    (message,) = CONNECTOR.parse(load("x", "conversation_reply"), TWITTERDEV).messages
    assert message.external_id == "1234567891"
    assert message.thread_key == "1234567890"
    assert message.reply_to_external_id == "1234567890"
    assert message.text == "@user Great point!"
    # in_reply_to_user_id is the account: addressed to us.
    assert message.addressed_to_brand is True
    # No created_at in the payload: the time comes from the snowflake id.
    assert message.sent_at == snowflake_time("1234567891")
    assert message.sent_at.tzinfo is not None


def test_v2_expansion_resolves_the_author_from_includes_users() -> None:
    (message,) = CONNECTOR.parse(load("x", "expansions_author"), BRAND).messages
    assert (message.author_id, message.author_handle, message.author_name) == (
        "2244994945",
        "xdevelopers",
        "X Developers",
    )
    assert message.thread_key == "1234567890"
    assert message.reply_to_external_id is None


def test_filtered_stream_item_is_a_listening_mention() -> None:
    payload = load("x", "filtered_stream_post")
    (message,) = CONNECTOR.parse(payload, BRAND).messages
    assert message.external_id == "1234567890"
    assert message.author_id == "9876543210"
    assert message.author_handle == "catperson"
    assert message.text == "Look at this cute cat! 🐱"
    assert message.sent_at == datetime(2024, 1, 15, 10, 35, tzinfo=UTC)
    assert message.is_public is True
    assert message.direction == "inbound"
    assert message.addressed_to_brand is False
    assert message.raw == payload["data"]


def test_account_activity_tweet_create_event() -> None:
    payload = load("x", "account_activity_tweet_create_events")
    (message,) = CONNECTOR.parse(payload, AccountCredentials()).messages
    assert message.external_id == "1307025659294674945"
    assert message.author_id == "2244994945"
    assert message.author_handle == "TwitterDev"
    assert message.author_name == "Twitter Dev"
    assert message.text.startswith("Here’s an article that highlights")
    assert message.sent_at == datetime(2020, 9, 18, 18, 36, 15, tzinfo=UTC)
    assert message.reply_to_external_id == "1304102743196356610"
    assert message.thread_key == "1304102743196356610"
    assert message.author_followers == 513958
    # for_user_id is the subscribed account: this Post is its own.
    assert message.direction == "outbound"
    assert message.raw == payload["tweet_create_events"][0]


def test_account_activity_direct_message_event() -> None:
    payload = load("x", "account_activity_direct_message_events")
    (message,) = CONNECTOR.parse(payload, AccountCredentials(external_id="4337869213")).messages
    assert message.external_id == "954491830116155396"
    assert message.thread_key == "3001969357-4337869213"
    assert message.author_id == "3001969357"
    assert message.author_handle == "furiouscamper"
    assert message.author_name == "Jordan Brinks"
    assert message.text == "Hello World!"
    assert message.sent_at == datetime(2018, 1, 19, 23, 12, 40, 557000, tzinfo=UTC)
    assert message.is_public is False
    assert message.direction == "inbound"
    assert message.raw == payload["direct_message_events"][0]


def test_account_activity_dm_sent_by_the_account_is_outbound() -> None:
    payload = load("x", "account_activity_direct_message_events")
    (message,) = CONNECTOR.parse(payload, AccountCredentials(external_id="3001969357")).messages
    assert message.direction == "outbound"
    assert message.thread_key == "3001969357-4337869213"


@pytest.mark.parametrize(
    "name", ["account_activity_direct_message_mark_read_events", "account_activity_tweet_delete_events"]
)
def test_ignorable_account_activity_events_give_an_empty_result(name: str) -> None:
    result = CONNECTOR.parse(load("x", name), BRAND)
    assert result.messages == [] and result.statuses == []


def test_unknown_shape_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="x:"):
        CONNECTOR.parse({"hello": "world"}, BRAND)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@acme @bob my order is late", {"acme", "bob"}),
        ("my order from @acme is late", set()),
        ("  @Acme hi", {"acme"}),
    ],
)
def test_leading_mentions(text: str, expected: set[str]) -> None:
    assert leading_mentions(text) == expected


def test_a_leading_handle_addresses_the_brand_a_later_one_does_not() -> None:
    def post(text: str) -> dict[str, object]:
        return {"data": {"id": "1", "text": text, "author_id": "5", "created_at": "2024-01-15T10:35:00Z"}}

    assert CONNECTOR.parse(post("@acme where is my parcel?"), BRAND).messages[0].addressed_to_brand
    assert not CONNECTOR.parse(post("loving my new @acme shoes"), BRAND).messages[0].addressed_to_brand
