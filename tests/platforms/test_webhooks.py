"""Handshakes and signatures: good, missing and wrong, for every platform."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from socialdesk.platforms import registry, telegram, x
from socialdesk.platforms.base import AccountCredentials, SignatureError
from socialdesk.platforms.registry import PLATFORMS, get_connector
from tests.platforms.conftest import load

ACCOUNT = AccountCredentials(app_secret="s3cret-app", verify_token="v3rify-me")
BODY = json.dumps(load("whatsapp", "messages_text")).encode()
HMAC_PLATFORMS = [p for p in PLATFORMS if p != "telegram"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_signed_body_passes(platform: str) -> None:
    connector = get_connector(platform)
    headers = registry.sign(platform, BODY, ACCOUNT)
    connector.verify_signature(BODY, headers, ACCOUNT)
    # Header names are matched case-insensitively, as HTTP requires.
    connector.verify_signature(BODY, {k.lower(): v for k, v in headers.items()}, ACCOUNT)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_missing_signature_fails(platform: str) -> None:
    with pytest.raises(SignatureError, match="missing"):
        get_connector(platform).verify_signature(BODY, {}, ACCOUNT)


@pytest.mark.parametrize("platform", HMAC_PLATFORMS)
def test_tampered_body_fails(platform: str) -> None:
    headers = registry.sign(platform, BODY, ACCOUNT)
    with pytest.raises(SignatureError):
        get_connector(platform).verify_signature(BODY + b" ", headers, ACCOUNT)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_other_secret_fails(platform: str) -> None:
    headers = registry.sign(platform, BODY, AccountCredentials(app_secret="other", verify_token="other"))
    with pytest.raises(SignatureError):
        get_connector(platform).verify_signature(BODY, headers, ACCOUNT)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_account_without_secret_fails_closed(platform: str) -> None:
    headers = registry.sign(platform, BODY, ACCOUNT)
    with pytest.raises(SignatureError):
        get_connector(platform).verify_signature(BODY, headers, AccountCredentials())


def test_meta_signature_is_hex_hmac_sha256_of_the_raw_body() -> None:
    expected = "sha256=" + hmac.new(b"s3cret-app", BODY, hashlib.sha256).hexdigest()
    for platform in ("facebook", "messenger", "instagram", "whatsapp", "youtube"):
        assert registry.sign(platform, BODY, ACCOUNT) == {"X-Hub-Signature-256": expected}


def test_x_signature_is_base64_hmac_sha256() -> None:
    digest = base64.b64encode(hmac.new(b"s3cret-app", BODY, hashlib.sha256).digest()).decode()
    assert x.sign(BODY, ACCOUNT) == {"x-twitter-webhooks-signature": f"sha256={digest}"}


def test_telegram_secret_token_header() -> None:
    assert telegram.sign(BODY, ACCOUNT) == {"X-Telegram-Bot-Api-Secret-Token": "v3rify-me"}


# --- handshakes ----------------------------------------------------------------------------

META_STYLE = ["facebook", "messenger", "instagram", "whatsapp", "youtube"]


@pytest.mark.parametrize("platform", META_STYLE)
def test_meta_handshake_echoes_the_challenge(platform: str) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "v3rify-me", "hub.challenge": "1158201444"}
    assert get_connector(platform).handshake(params, ACCOUNT) == "1158201444"


@pytest.mark.parametrize("platform", META_STYLE)
@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "v3rify-me", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "v3rify-me"},
    ],
)
def test_meta_handshake_refuses_bad_requests(platform: str, params: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        get_connector(platform).handshake(params, ACCOUNT)


def test_x_crc_response_token() -> None:
    digest = hmac.new(b"s3cret-app", b"challenge-123", hashlib.sha256).digest()
    expected = "sha256=" + base64.b64encode(digest).decode()
    assert x.CONNECTOR.handshake({"crc_token": "challenge-123"}, ACCOUNT) == {"response_token": expected}


def test_x_crc_needs_a_token_and_a_secret() -> None:
    with pytest.raises(SignatureError):
        x.CONNECTOR.handshake({}, ACCOUNT)
    with pytest.raises(SignatureError):
        x.CONNECTOR.handshake({"crc_token": "abc"}, AccountCredentials())


def test_telegram_has_no_get_handshake() -> None:
    with pytest.raises(SignatureError):
        telegram.CONNECTOR.handshake({"anything": "1"}, ACCOUNT)


def test_registry_knows_every_platform_and_refuses_others() -> None:
    assert PLATFORMS == ("x", "facebook", "messenger", "instagram", "whatsapp", "telegram", "youtube")
    for name in PLATFORMS:
        assert get_connector(name).name == name
    with pytest.raises(KeyError, match="unknown platform"):
        get_connector("myspace")
