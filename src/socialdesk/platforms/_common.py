"""Helpers shared by the connectors: signatures, timestamps, limits and HTTP sends."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from socialdesk.platforms.base import (
    AccountCredentials,
    OutboundReply,
    PayloadError,
    PlatformLimits,
    SendError,
    SignatureError,
)

# One default timeout for every send: long enough for a slow platform, short enough that a
# stuck request is retried by the outbox instead of blocking a worker.
SEND_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
IDEMPOTENCY_HEADER = "Idempotency-Key"
GRAPH_API_VERSION = "v23.0"
GRAPH_API_BASE = "https://graph.facebook.com"


# --- headers and signatures -------------------------------------------------------------


def header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup (frameworks differ in how they spell header names)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return ""


def hmac_sha256(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).digest()


def same(a: str, b: str) -> bool:
    """Constant-time string comparison, so a wrong signature leaks no timing information."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def require_secret(secret: str, what: str) -> str:
    # Fail closed: an account without a secret cannot prove any webhook is genuine.
    if not secret:
        raise SignatureError(f"no {what} configured for this account; cannot verify the webhook")
    return secret


def meta_signature(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=<hex HMAC-SHA256(body)>``."""
    return "sha256=" + hmac_sha256(app_secret, body).hex()


def verify_meta_signature(body: bytes, headers: Mapping[str, str], account: AccountCredentials) -> None:
    secret = require_secret(account.app_secret, "app secret")
    given = header(headers, "X-Hub-Signature-256")
    if not given:
        raise SignatureError("missing X-Hub-Signature-256 header")
    if not same(given.strip(), meta_signature(body, secret)):
        raise SignatureError("X-Hub-Signature-256 does not match the body")


def meta_handshake(params: Mapping[str, str], account: AccountCredentials) -> str:
    """Meta's GET verification: echo ``hub.challenge`` when the verify token matches."""
    token = require_secret(account.verify_token, "verify token")
    if params.get("hub.mode") != "subscribe":
        raise SignatureError("hub.mode must be 'subscribe'")
    challenge = params.get("hub.challenge")
    if not challenge:
        raise SignatureError("missing hub.challenge")
    if not same(params.get("hub.verify_token", ""), token):
        raise SignatureError("hub.verify_token does not match")
    return challenge


def b64_hmac(secret: str, data: bytes) -> str:
    return base64.b64encode(hmac_sha256(secret, data)).decode("ascii")


# --- timestamps ---------------------------------------------------------------------------


def from_epoch(value: Any) -> datetime:
    """Seconds or milliseconds since the epoch (platforms use both) to an aware UTC datetime."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"not an epoch timestamp: {value!r}") from exc
    # Anything past year 5138 in seconds is really milliseconds.
    if number > 1e11:
        number /= 1000.0
    return datetime.fromtimestamp(number, tz=UTC)


def from_iso(value: str) -> datetime:
    """ISO 8601 (``Z`` or ``+0000`` offsets included) to an aware UTC datetime."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Graph API writes offsets without a colon: 2025-03-22T18:20:04+0000.
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PayloadError(f"not an ISO 8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def from_any_time(value: Any) -> datetime:
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return from_epoch(value)
    if isinstance(value, str):
        return from_iso(value)
    raise PayloadError(f"unreadable timestamp: {value!r}")


def now_utc() -> datetime:
    return datetime.now(tz=UTC)


# --- small readers --------------------------------------------------------------------------


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text_id(value: Any) -> str:
    """Platform ids arrive as numbers or strings; we always keep strings."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def require_object(payload: Any, platform: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise PayloadError(f"{platform}: expected a JSON object, got {type(payload).__name__}")
    return payload


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- sending ------------------------------------------------------------------------------


def check_text(text: str, length: int, limits: PlatformLimits, is_public: bool, name: str) -> None:
    """Refuse empty or over-long text before any HTTP call is made."""
    if not text.strip():
        raise SendError(f"{name}: refusing to send an empty reply", retryable=False)
    limit = limits.max_chars_public if is_public else limits.max_chars_private
    if length > limit:
        where = "public" if is_public else "private"
        raise SendError(
            f"{name}: reply is {length} characters, over the {where} limit of {limit}",
            retryable=False,
        )


def api_base(account: AccountCredentials, default: str) -> str:
    return (account.api_base_url or default).rstrip("/")


def _error_text(response: httpx.Response) -> str:
    """The platform's own error message, whichever of the common shapes it uses."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if not isinstance(body, dict):
        return str(body)[:500]
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])  # Graph API, YouTube
    if isinstance(error, str):
        return error
    if body.get("description"):
        return str(body["description"])  # Telegram
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, dict):
            return str(first.get("message") or first.get("detail") or first)
    for key in ("detail", "title", "message"):
        if body.get(key):
            return str(body[key])  # X API v2 problem details
    return response.text[:500]


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    name: str,
    reply: OutboundReply,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST JSON and map failures: 5xx/429/network → retryable, other 4xx → final."""
    sent_headers = dict(headers or {})
    if reply.idempotency_key:
        sent_headers[IDEMPOTENCY_HEADER] = reply.idempotency_key
    try:
        with httpx.Client(timeout=SEND_TIMEOUT) as client:
            response = client.post(url, json=payload, headers=sent_headers, params=params)
    except httpx.TimeoutException as exc:
        raise SendError(f"{name}: timed out sending the reply ({exc})", retryable=True) from exc
    except httpx.TransportError as exc:
        raise SendError(f"{name}: could not reach the platform ({exc})", retryable=True) from exc
    status = response.status_code
    if status >= 500 or status == 429:
        raise SendError(
            f"{name}: platform answered {status}: {_error_text(response)}",
            status=status,
            retryable=True,
        )
    if status >= 400:
        raise SendError(
            f"{name}: platform refused the reply ({status}): {_error_text(response)}",
            status=status,
            retryable=False,
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise SendError(
            f"{name}: platform answered {status} with a body that is not JSON",
            status=status,
            retryable=True,
        ) from exc
    if not isinstance(body, dict):
        raise SendError(f"{name}: unexpected response {body!r}", status=status, retryable=True)
    return body


def bearer(account: AccountCredentials) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.access_token}"} if account.access_token else {}
