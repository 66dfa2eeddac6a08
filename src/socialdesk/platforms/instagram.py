"""Instagram webhooks: ``comments``/``live_comments`` changes and DM ``messaging`` events.

Thread keys: a comment threads on its media id (the post's comment tree); a DM threads on
the customer's IGSID. Comment webhooks carry no creation time: we use the entry's ``time``
when present, else the moment of parsing. ``mentions`` (which only carry ids to look up)
and ``story_insights`` are recognised and ignored.
"""

from __future__ import annotations

from typing import Any

from socialdesk.platforms._common import (
    as_dict,
    bearer,
    check_text,
    now_utc,
    post_json,
    require_object,
    text_id,
)
from socialdesk.platforms._meta import (
    MetaWebhooks,
    changes,
    entries,
    entry_time,
    graph_base,
    messaging_events,
    parse_messaging,
    send_message,
)
from socialdesk.platforms.base import (
    AccountCredentials,
    InboundMessage,
    OutboundReply,
    ParseResult,
    PayloadError,
    PlatformLimits,
    SendError,
    SendResult,
)

NAME = "instagram"
COMMENT_FIELDS = frozenset({"comments", "live_comments"})

LIMITS = PlatformLimits(
    max_chars_public=2200,
    max_chars_private=1000,
    messaging_window_hours=24,
    notes="Comments: up to 2,200 characters. DMs: up to 1,000 characters, free-form only "
    "within 24 hours of the person's last message.",
)


class InstagramConnector(MetaWebhooks):
    name = NAME
    limits = LIMITS

    def parse(self, payload: dict[str, Any], account: AccountCredentials) -> ParseResult:
        payload = require_object(payload, NAME)
        if payload.get("object") not in (None, "instagram"):
            raise PayloadError(f"instagram: webhook object is {payload.get('object')!r}, not 'instagram'")
        result = ParseResult()
        recognised = payload.get("object") == "instagram"
        for entry in entries(payload):
            events = messaging_events(entry)
            if events:
                recognised = True
                found = parse_messaging(NAME, events, account)
                result.messages.extend(found.messages)
                result.statuses.extend(found.statuses)
            for field, value in changes(entry):
                recognised = True
                if field in COMMENT_FIELDS:
                    result.messages.append(self._comment(value, entry, account))
        if not recognised:
            raise PayloadError("instagram: no 'instagram' envelope, comment change or DM event")
        return result

    def _comment(
        self, value: dict[str, Any], entry: dict[str, Any], account: AccountCredentials
    ) -> InboundMessage:
        comment_id = text_id(value.get("id"))
        if not comment_id:
            raise PayloadError("instagram: comment without an id")
        sender = as_dict(value.get("from"))
        author_id = text_id(sender.get("id"))
        username = sender.get("username", "") or ""
        media_id = text_id(as_dict(value.get("media")).get("id"))
        parent = text_id(value.get("parent_id"))
        own = (bool(account.external_id) and author_id == account.external_id) or (
            bool(account.handle) and username.lower() == account.handle.lstrip("@").lower()
        )
        return InboundMessage(
            platform=NAME,
            external_id=comment_id,
            thread_key=media_id or parent or comment_id,
            author_id=author_id,
            author_handle=username,
            author_name=username,
            text=value.get("text", "") or "",
            sent_at=entry_time(entry) or now_utc(),
            is_public=True,
            reply_to_external_id=parent or media_id or None,
            direction="outbound" if own else "inbound",
            raw=value,
        )

    def text_length(self, text: str) -> int:
        return len(text)

    def send(self, reply: OutboundReply, account: AccountCredentials) -> SendResult:
        check_text(reply.text, self.text_length(reply.text), self.limits, reply.is_public, NAME)
        if not reply.is_public:
            return send_message(NAME, reply, account)
        comment_id = reply.reply_to_external_id
        if not comment_id:
            raise SendError("instagram: a public reply needs the comment id", retryable=False)
        answer = post_json(
            f"{graph_base(account)}/{comment_id}/replies",
            {"message": reply.text},
            name=NAME,
            reply=reply,
            headers=bearer(account),
        )
        if not answer.get("id"):
            raise SendError(f"instagram: no id in the response {answer!r}", retryable=True)
        return SendResult(external_id=text_id(answer["id"]), raw=answer)


CONNECTOR = InstagramConnector()


def sign(body: bytes, account: AccountCredentials) -> dict[str, str]:
    return CONNECTOR.signature_headers(body, account)
