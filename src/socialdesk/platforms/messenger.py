"""Messenger Platform: ``messaging`` webhook events of a Facebook Page.

Thread key: the customer's PSID (one DM thread per person and Page). ``message_echoes``
(``is_echo``) are our own sends and come back as outbound messages; ``delivery`` receipts
become StatusUpdates; ``read`` receipts, reactions and postbacks are ignored.
"""

from __future__ import annotations

from typing import Any

from socialdesk.platforms._common import check_text, require_object
from socialdesk.platforms._meta import MetaWebhooks, entries, messaging_events, parse_messaging, send_message
from socialdesk.platforms.base import (
    AccountCredentials,
    OutboundReply,
    ParseResult,
    PayloadError,
    PlatformLimits,
    SendResult,
)

NAME = "messenger"

LIMITS = PlatformLimits(
    max_chars_public=2000,
    max_chars_private=2000,
    messaging_window_hours=24,
    notes="Send API text: up to 2,000 characters. Free-form replies within 24 hours of the "
    "person's last message; later only with a message tag.",
)


class MessengerConnector(MetaWebhooks):
    name = NAME
    limits = LIMITS

    def parse(self, payload: dict[str, Any], account: AccountCredentials) -> ParseResult:
        payload = require_object(payload, NAME)
        if payload.get("object") not in (None, "page"):
            raise PayloadError(f"messenger: webhook object is {payload.get('object')!r}, not 'page'")
        found = [e for entry in entries(payload) for e in messaging_events(entry)]
        if not found:
            if payload.get("object") == "page":
                return ParseResult()  # a Page event without messaging (feed changes etc.)
            raise PayloadError("messenger: no 'messaging' events and no Page webhook envelope")
        return parse_messaging(NAME, found, account)

    def text_length(self, text: str) -> int:
        return len(text)

    def send(self, reply: OutboundReply, account: AccountCredentials) -> SendResult:
        # Every Messenger reply goes to a private thread, whatever the reply says about itself.
        check_text(reply.text, self.text_length(reply.text), self.limits, False, NAME)
        return send_message(NAME, reply, account)


CONNECTOR = MessengerConnector()


def sign(body: bytes, account: AccountCredentials) -> dict[str, str]:
    return CONNECTOR.signature_headers(body, account)
