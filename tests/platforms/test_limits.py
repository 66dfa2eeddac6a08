"""Reply length limits: X's weighted count and every platform's documented maximum."""

from __future__ import annotations

import pytest

from socialdesk.platforms.base import AccountCredentials, OutboundReply, SendError
from socialdesk.platforms.fake_server import RunningFakeServer
from socialdesk.platforms.registry import PLATFORMS, get_connector
from socialdesk.platforms.x import CONNECTOR as X


@pytest.mark.parametrize(
    ("text", "weighted"),
    [
        ("hello", 5),
        # Every URL counts 23, however long.
        ("see https://example.com/a/very/long/path/that/goes/on/and/on?query=1", 4 + 23),
        # Emoji count 2 each (one grapheme, even with a ZWJ sequence).
        ("😀", 2),
        ("👨‍👩‍👧‍👦", 2),
        # CJK ideographs count 2 each; Latin and most European scripts count 1.
        ("日本語", 6),
        ("Grüße", 5),
    ],
)
def test_x_weighted_length(text: str, weighted: int) -> None:
    assert X.text_length(text) == weighted


def test_x_limit_is_280_weighted() -> None:
    assert X.limits.max_chars_public == 280 and X.limits.weighted_length
    assert X.text_length("日" * 140) == 280
    assert X.text_length("日" * 141) == 282


DOCUMENTED = {
    "x": (280, 10_000, None),
    "facebook": (8000, 2000, None),
    "messenger": (2000, 2000, 24),
    "instagram": (2200, 1000, 24),
    "whatsapp": (4096, 4096, 24),
    "telegram": (4096, 4096, None),
    "youtube": (10_000, 10_000, None),
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_limits_match_the_documented_numbers(platform: str) -> None:
    limits = get_connector(platform).limits
    assert (limits.max_chars_public, limits.max_chars_private, limits.messaging_window_hours) == DOCUMENTED[
        platform
    ]


PUBLIC_CAPABLE = {"x", "facebook", "instagram", "telegram", "youtube"}
PRIVATE_CAPABLE = {"x", "facebook", "messenger", "instagram", "whatsapp", "telegram"}


def _reply(text: str, public: bool) -> OutboundReply:
    return OutboundReply(
        text=text,
        thread_key="111",
        reply_to_external_id="111:222",
        recipient_id="333",
        is_public=public,
        idempotency_key="limit-test",
    )


@pytest.mark.parametrize(
    ("platform", "public"),
    [(p, True) for p in sorted(PUBLIC_CAPABLE)] + [(p, False) for p in sorted(PRIVATE_CAPABLE)],
)
def test_over_limit_is_refused_without_a_request(
    platform: str, public: bool, fake: RunningFakeServer
) -> None:
    connector = get_connector(platform)
    limit = connector.limits.max_chars_public if public else connector.limits.max_chars_private
    if platform == "facebook" and not public:
        limit = get_connector("messenger").limits.max_chars_private
    account = AccountCredentials(external_id="106540352242922", access_token="t", api_base_url=fake.base_url)
    with pytest.raises(SendError) as caught:
        connector.send(_reply("a" * (limit + 1), public), account)
    assert caught.value.retryable is False
    assert "limit" in str(caught.value)
    assert fake.requests == []


def test_exactly_at_the_limit_is_sent(fake: RunningFakeServer) -> None:
    account = AccountCredentials(access_token="t", api_base_url=fake.base_url)
    X.send(_reply("日" * 140, True), account)
    assert len(fake.requests) == 1


def test_empty_text_is_refused(fake: RunningFakeServer) -> None:
    account = AccountCredentials(access_token="t", api_base_url=fake.base_url)
    with pytest.raises(SendError, match="empty"):
        X.send(_reply("   ", True), account)
    assert fake.requests == []
