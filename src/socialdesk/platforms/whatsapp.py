"""WhatsApp Cloud API webhooks: ``messages`` and ``statuses`` of a business phone number.

Thread key: the customer's ``wa_id`` (one thread per phone number). Text comes from
``text.body``, media captions, button and interactive replies. ``statuses`` (sent,
delivered, read, failed...) are delivery reports for our own sends: they become
StatusUpdates, never messages. Other fields on the same webhook (account, template and
quality updates) are recognised and ignored.

Sending: free-form text only inside the 24-hour customer-service window; outside it the
outbox must send an approved template (``OutboundReply.template_name``).
"""

from __future__ import annotations

from typing import Any

from socialdesk.platforms._common import (
    as_dict,
    as_list,
    bearer,
    check_text,
    from_epoch,
    post_json,
    require_object,
    text_id,
)
from socialdesk.platforms._meta import MetaWebhooks, changes, entries, graph_base
from socialdesk.platforms.base import (
    AccountCredentials,
    InboundMessage,
    OutboundReply,
    ParseResult,
    PayloadError,
    PlatformLimits,
    SendError,
    SendResult,
    StatusUpdate,
)

NAME = "whatsapp"
MEDIA_TYPES = ("image", "video", "document", "audio", "sticker")
IGNORED_TYPES = frozenset({"reaction", "system", "ephemeral"})

LIMITS = PlatformLimits(
    max_chars_public=4096,
    max_chars_private=4096,
    messaging_window_hours=24,
    notes="Text body up to 4,096 characters. Free-form messages only within 24 hours of the "
    "customer's last message (customer service window); outside it, approved templates only.",
)


def message_text(message: dict[str, Any]) -> str:
    kind = message.get("type", "")
    if kind == "text":
        return as_dict(message.get("text")).get("body", "") or ""
    if kind in MEDIA_TYPES:
        caption = as_dict(message.get(kind)).get("caption")
        return caption or f"[{kind}]"
    if kind == "button":
        return as_dict(message.get("button")).get("text", "") or ""
    if kind == "interactive":
        interactive = as_dict(message.get("interactive"))
        chosen = as_dict(interactive.get("button_reply")) or as_dict(interactive.get("list_reply"))
        return chosen.get("title", "") or ""
    if kind == "location":
        location = as_dict(message.get("location"))
        return location.get("name") or location.get("address") or "[location]"
    return f"[{kind or 'unknown'}]"


class WhatsAppConnector(MetaWebhooks):
    name = NAME
    limits = LIMITS

    def parse(self, payload: dict[str, Any], account: AccountCredentials) -> ParseResult:
        payload = require_object(payload, NAME)
        if payload.get("object") not in (None, "whatsapp_business_account"):
            raise PayloadError(
                f"whatsapp: webhook object is {payload.get('object')!r}, not 'whatsapp_business_account'"
            )
        values: list[dict[str, Any]] = []
        recognised = payload.get("object") == "whatsapp_business_account"
        if payload.get("messaging_product") == "whatsapp":
            values.append(payload)  # a bare change value, as the reference pages print them
        else:
            for entry in entries(payload):
                for field, value in changes(entry):
                    recognised = True
                    if field == "messages":
                        values.append(value)
        if not values and not recognised:
            raise PayloadError("whatsapp: no WhatsApp Business Account envelope or 'messages' value")
        result = ParseResult()
        for value in values:
            self._read_value(value, account, result)
        return result

    def _read_value(self, value: dict[str, Any], account: AccountCredentials, result: ParseResult) -> None:
        names = {
            text_id(c.get("wa_id")): as_dict(c.get("profile")).get("name", "")
            for c in as_list(value.get("contacts"))
            if isinstance(c, dict)
        }
        for message in as_list(value.get("messages")):
            if not isinstance(message, dict) or message.get("type") in IGNORED_TYPES:
                continue
            sender = text_id(message.get("from"))
            if not message.get("id") or not sender:
                raise PayloadError("whatsapp: message without id or sender")
            reply_to = as_dict(message.get("context")).get("id")
            result.messages.append(
                InboundMessage(
                    platform=NAME,
                    external_id=text_id(message["id"]),
                    thread_key=sender,
                    author_id=sender,
                    author_handle=sender,
                    author_name=names.get(sender, ""),
                    text=message_text(message),
                    sent_at=from_epoch(message.get("timestamp")),
                    is_public=False,
                    reply_to_external_id=text_id(reply_to) if reply_to else None,
                    raw=message,
                )
            )
        for status in as_list(value.get("statuses")):
            if not isinstance(status, dict) or not status.get("id"):
                continue
            errors = [e for e in as_list(status.get("errors")) if isinstance(e, dict)]
            error = ""
            if errors:
                first = errors[0]
                error = f"{first.get('code', '')} {first.get('title') or first.get('message', '')}"
            result.statuses.append(
                StatusUpdate(
                    platform=NAME,
                    external_id=text_id(status["id"]),
                    status=str(status.get("status", "")),
                    at=from_epoch(status["timestamp"]) if status.get("timestamp") else None,
                    error=error.strip(),
                )
            )

    def text_length(self, text: str) -> int:
        return len(text)

    def send(self, reply: OutboundReply, account: AccountCredentials) -> SendResult:
        to = reply.recipient_id or reply.thread_key
        if not to:
            raise SendError("whatsapp: a reply needs the customer's wa_id", retryable=False)
        if not account.external_id:
            raise SendError("whatsapp: the account has no phone number id", retryable=False)
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
        }
        if reply.template_name:
            # Templates are approved text: no length check, language defaults to English.
            body["type"] = "template"
            body["template"] = {
                "name": reply.template_name,
                "language": {"code": reply.template_language or "en_US"},
            }
        else:
            check_text(reply.text, self.text_length(reply.text), self.limits, False, NAME)
            body["type"] = "text"
            body["text"] = {"preview_url": False, "body": reply.text}
            if reply.reply_to_external_id:
                body["context"] = {"message_id": reply.reply_to_external_id}
        answer = post_json(
            f"{graph_base(account)}/{account.external_id}/messages",
            body,
            name=NAME,
            reply=reply,
            headers=bearer(account),
        )
        sent = [m for m in as_list(answer.get("messages")) if isinstance(m, dict)]
        if not sent or not sent[0].get("id"):
            raise SendError(f"whatsapp: no message id in the response {answer!r}", retryable=True)
        return SendResult(external_id=text_id(sent[0]["id"]), raw=answer)


CONNECTOR = WhatsAppConnector()


def sign(body: bytes, account: AccountCredentials) -> dict[str, str]:
    return CONNECTOR.signature_headers(body, account)
