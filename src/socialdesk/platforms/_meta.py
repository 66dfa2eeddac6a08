"""What Facebook, Messenger, Instagram and WhatsApp share: Meta's webhook envelope,
signature, handshake, and the Messenger-style ``messaging`` events (Messenger and Instagram DMs).

Meta's reference pages show single items (one ``messaging`` event, one ``{field, value}``
change) as often as whole envelopes, so the readers accept all three shapes: a full
``{"object", "entry": [...]}`` envelope, one entry, or one bare item.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from socialdesk.platforms._common import (
    GRAPH_API_BASE,
    GRAPH_API_VERSION,
    api_base,
    as_dict,
    as_list,
    bearer,
    from_any_time,
    meta_handshake,
    meta_signature,
    now_utc,
    post_json,
    require_secret,
    text_id,
    verify_meta_signature,
)
from socialdesk.platforms.base import (
    AccountCredentials,
    InboundMessage,
    OutboundReply,
    ParseResult,
    SendError,
    SendResult,
    StatusUpdate,
)


class MetaWebhooks:
    """Signature and handshake for every Meta product (they share one app secret)."""

    def signature_headers(self, body: bytes, account: AccountCredentials) -> dict[str, str]:
        secret = require_secret(account.app_secret, "app secret")
        return {"X-Hub-Signature-256": meta_signature(body, secret)}

    def verify_signature(self, body: bytes, headers: dict[str, str], account: AccountCredentials) -> None:
        verify_meta_signature(body, headers, account)

    def handshake(self, params: dict[str, str], account: AccountCredentials) -> str:
        return meta_handshake(params, account)


def entries(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries of an envelope, or the payload itself when it is a single entry."""
    if "entry" in payload:
        return [e for e in as_list(payload["entry"]) if isinstance(e, dict)]
    return [payload]


def changes(entry: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(field, value)`` pairs of an entry, or of a bare ``{field, value}`` change."""
    if "field" in entry and "value" in entry:
        yield str(entry["field"]), as_dict(entry["value"])
        return
    for change in as_list(entry.get("changes")):
        if isinstance(change, dict):
            yield str(change.get("field", "")), as_dict(change.get("value"))


def messaging_events(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Messenger-style events of an entry (``standby`` too), or a bare event."""
    if "sender" in entry and "recipient" in entry:
        return [entry]
    events = as_list(entry.get("messaging")) + as_list(entry.get("standby"))
    return [e for e in events if isinstance(e, dict)]


def entry_time(entry: dict[str, Any]) -> datetime | None:
    return from_any_time(entry["time"]) if entry.get("time") else None


def _attachment_text(message: dict[str, Any]) -> str:
    kinds = [str(a.get("type", "file")) for a in as_list(message.get("attachments")) if isinstance(a, dict)]
    return " ".join(f"[{kind}]" for kind in kinds)


def parse_messaging(platform: str, events: list[dict[str, Any]], account: AccountCredentials) -> ParseResult:
    """Messages, echoes and delivery receipts of Messenger or Instagram messaging events.

    The thread key is the customer's scoped id (PSID/IGSID): the sender of an inbound
    message, the recipient of an echo of our own.
    """
    result = ParseResult()
    for event in events:
        sender = text_id(as_dict(event.get("sender")).get("id"))
        recipient = text_id(as_dict(event.get("recipient")).get("id"))
        if "delivery" in event:
            delivery = as_dict(event["delivery"])
            at = from_any_time(delivery["watermark"]) if delivery.get("watermark") else None
            for mid in as_list(delivery.get("mids")):
                result.statuses.append(
                    StatusUpdate(platform=platform, external_id=text_id(mid), status="delivered", at=at)
                )
            continue
        message = event.get("message")
        if not isinstance(message, dict) or not message.get("mid"):
            continue  # read/seen receipts, reactions, postbacks, referrals: nothing to answer
        if message.get("is_deleted"):
            continue
        own = bool(message.get("is_echo")) or (bool(account.external_id) and sender == account.external_id)
        customer = recipient if own else sender
        sent_at = from_any_time(event["timestamp"]) if event.get("timestamp") else now_utc()
        reply_to = as_dict(message.get("reply_to")).get("mid")
        result.messages.append(
            InboundMessage(
                platform=platform,
                external_id=text_id(message["mid"]),
                thread_key=customer,
                author_id=sender,
                author_handle="",
                author_name="",
                text=message.get("text") or _attachment_text(message),
                sent_at=sent_at,
                is_public=False,
                reply_to_external_id=text_id(reply_to) if reply_to else None,
                direction="outbound" if own else "inbound",
                raw=event,
            )
        )
    return result


def graph_base(account: AccountCredentials) -> str:
    return f"{api_base(account, GRAPH_API_BASE)}/{GRAPH_API_VERSION}"


def send_message(platform: str, reply: OutboundReply, account: AccountCredentials) -> SendResult:
    """Send API (``/me/messages``) reply to a Messenger or Instagram DM thread."""
    recipient = reply.recipient_id or reply.thread_key
    if not recipient:
        raise SendError(f"{platform}: a DM reply needs the recipient's scoped id", retryable=False)
    body = {
        "recipient": {"id": recipient},
        "messaging_type": "RESPONSE",
        "message": {"text": reply.text},
    }
    answer = post_json(
        f"{graph_base(account)}/me/messages", body, name=platform, reply=reply, headers=bearer(account)
    )
    message_id = answer.get("message_id")
    if not message_id:
        raise SendError(f"{platform}: no message_id in the response {answer!r}", retryable=True)
    return SendResult(external_id=text_id(message_id), raw=answer)
