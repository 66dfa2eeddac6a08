"""Facebook Page webhooks: ``feed`` changes (comments and posts on the Page).

Thread key: the post id, so a post and its whole comment tree are one conversation.
A comment's reply-to is its ``parent_id`` (the post for a top-level comment, the parent
comment for a reply). Only ``verb == "add"`` creates a message; edits, removals, hides,
reactions and likes are recognised and ignored. ``messaging`` entries that reach the
Facebook webhook are parsed as Messenger messages, so one Page webhook URL serves both.
"""

from __future__ import annotations

from typing import Any

from socialdesk.platforms import messenger
from socialdesk.platforms._common import (
    as_dict,
    bearer,
    check_text,
    from_any_time,
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

NAME = "facebook"
POST_ITEMS = frozenset({"status", "post", "photo", "video", "share"})

LIMITS = PlatformLimits(
    max_chars_public=8000,
    max_chars_private=2000,
    messaging_window_hours=None,
    notes="Comments: up to 8,000 characters. Private replies go through Messenger (2,000 characters).",
)


class FacebookConnector(MetaWebhooks):
    name = NAME
    limits = LIMITS

    def parse(self, payload: dict[str, Any], account: AccountCredentials) -> ParseResult:
        payload = require_object(payload, NAME)
        if payload.get("object") not in (None, "page"):
            raise PayloadError(f"facebook: webhook object is {payload.get('object')!r}, not 'page'")
        result = ParseResult()
        recognised = payload.get("object") == "page"
        for entry in entries(payload):
            if messaging_events(entry):
                recognised = True
                found = messenger.CONNECTOR.parse(entry, account)
                result.messages.extend(found.messages)
                result.statuses.extend(found.statuses)
            for field, value in changes(entry):
                recognised = True
                if field != "feed":
                    continue
                message = self._feed_item(value, entry, account)
                if message is not None:
                    result.messages.append(message)
        if not recognised:
            raise PayloadError("facebook: no Page envelope, 'changes' or 'messaging' found")
        return result

    def _feed_item(
        self, value: dict[str, Any], entry: dict[str, Any], account: AccountCredentials
    ) -> InboundMessage | None:
        item = value.get("item")
        if value.get("verb") != "add" or (item != "comment" and item not in POST_ITEMS):
            return None
        sender = as_dict(value.get("from"))
        author_id = text_id(sender.get("id") or value.get("sender_id"))
        author_name = sender.get("name") or value.get("sender_name") or ""
        post_id = text_id(value.get("post_id"))
        if item == "comment":
            external_id = text_id(value.get("comment_id"))
            reply_to: str | None = text_id(value.get("parent_id")) or post_id or None
        else:
            external_id = post_id
            reply_to = None
        if not external_id:
            raise PayloadError(f"facebook: feed {item} without an id")
        created = value.get("created_time")
        sent_at = from_any_time(created) if created else entry_time(entry)
        if sent_at is None:
            raise PayloadError(f"facebook: feed {item} {external_id} has no time")
        own = bool(account.external_id) and author_id == account.external_id
        return InboundMessage(
            platform=NAME,
            external_id=external_id,
            thread_key=post_id or external_id,
            author_id=author_id,
            author_handle="",
            author_name=author_name,
            text=value.get("message", "") or "",
            sent_at=sent_at,
            is_public=True,
            reply_to_external_id=reply_to,
            direction="outbound" if own else "inbound",
            raw=value,
        )

    def text_length(self, text: str) -> int:
        return len(text)

    def send(self, reply: OutboundReply, account: AccountCredentials) -> SendResult:
        if not reply.is_public:
            # A private answer to a Facebook user is a Messenger message.
            check_text(reply.text, self.text_length(reply.text), self.limits, False, NAME)
            return messenger.CONNECTOR.send(reply, account)
        check_text(reply.text, self.text_length(reply.text), self.limits, True, NAME)
        target = reply.reply_to_external_id or reply.thread_key
        if not target:
            raise SendError("facebook: a comment reply needs the comment or post id", retryable=False)
        answer = post_json(
            f"{graph_base(account)}/{target}/comments",
            {"message": reply.text},
            name=NAME,
            reply=reply,
            headers=bearer(account),
        )
        if not answer.get("id"):
            raise SendError(f"facebook: no id in the response {answer!r}", retryable=True)
        return SendResult(external_id=text_id(answer["id"]), raw=answer)


CONNECTOR = FacebookConnector()


def sign(body: bytes, account: AccountCredentials) -> dict[str, str]:
    return CONNECTOR.signature_headers(body, account)
