"""What every connector produces and offers. Connectors are pure: no database access."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class PayloadError(ValueError):
    """A payload that parsed as JSON but is not something this connector understands."""


class SignatureError(PermissionError):
    """A webhook whose signature is missing or wrong."""


class SendError(RuntimeError):
    """A send the platform refused. ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(slots=True)
class InboundMessage:
    """One normalized item, as a connector reads it from a platform payload."""

    platform: str
    external_id: str
    # Messages with the same thread key belong to the same conversation (X conversation_id,
    # a post id for its comment tree, a DM/chat id, a WhatsApp number).
    thread_key: str
    author_id: str
    author_handle: str
    author_name: str
    text: str
    sent_at: datetime
    is_public: bool
    reply_to_external_id: str | None = None
    # "inbound" from a customer, "outbound" when the brand's own account wrote it.
    direction: str = "inbound"
    # False for a public post that mentions the brand without being addressed to it.
    addressed_to_brand: bool = True
    author_followers: int = 0
    language_hint: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class StatusUpdate:
    """A delivery status for a message we sent (WhatsApp sent/delivered/read/failed...)."""

    platform: str
    external_id: str
    status: str
    at: datetime | None = None
    error: str = ""


@dataclass(slots=True)
class ParseResult:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)


@dataclass(slots=True)
class AccountCredentials:
    """What a connector needs to verify and send for one account."""

    external_id: str = ""
    handle: str = ""
    app_secret: str = ""
    verify_token: str = ""
    access_token: str = ""
    api_base_url: str = ""


@dataclass(slots=True)
class OutboundReply:
    text: str
    # The thread's key and the message being answered.
    thread_key: str
    reply_to_external_id: str | None
    recipient_id: str
    is_public: bool
    # The client's idempotency key: the platform may use it to refuse a duplicate.
    idempotency_key: str = ""
    template_name: str | None = None
    template_language: str | None = None


@dataclass(slots=True)
class SendResult:
    external_id: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PlatformLimits:
    max_chars_public: int
    max_chars_private: int
    # Hours after the customer's last message during which a free-form private reply is allowed.
    messaging_window_hours: int | None = None
    weighted_length: bool = False
    notes: str = ""


class Connector(Protocol):
    name: str
    limits: PlatformLimits

    def parse(self, payload: dict[str, Any], account: AccountCredentials) -> ParseResult: ...

    def verify_signature(self, body: bytes, headers: dict[str, str], account: AccountCredentials) -> None:
        """Raise SignatureError unless the body is signed by the platform."""

    def handshake(self, params: dict[str, str], account: AccountCredentials) -> Any:
        """Answer the platform's GET verification; raise SignatureError if it fails."""

    def text_length(self, text: str) -> int: ...

    def send(self, reply: OutboundReply, account: AccountCredentials) -> SendResult: ...
