"""YouTube Data API comments: ``commentThreads`` and ``comments`` resources.

YouTube pushes no comment webhooks, so our poller calls ``commentThreads.list`` and POSTs
the JSON it got to our own webhook, signed like Meta's: ``X-Hub-Signature-256:
sha256=<hex HMAC-SHA256 of the body with the account's app_secret>``. The GET handshake
follows the same ``hub.*`` convention (also what YouTube's PubSubHubbub feed uses).

Thread key: the commentThread id (the top-level comment's id). Replies carry their
``parentId`` as reply-to. Accepted shapes: a commentThreadListResponse, a commentThread,
a commentListResponse (replies) or a single comment.
"""

from __future__ import annotations

from typing import Any

from socialdesk.platforms._common import (
    api_base,
    as_dict,
    as_list,
    bearer,
    check_text,
    from_iso,
    meta_handshake,
    meta_signature,
    post_json,
    require_object,
    require_secret,
    text_id,
    verify_meta_signature,
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

NAME = "youtube"
DEFAULT_API_BASE = "https://www.googleapis.com"

LIMITS = PlatformLimits(
    max_chars_public=10_000,
    max_chars_private=10_000,
    messaging_window_hours=None,
    notes="Comment text (snippet.textOriginal): up to 10,000 characters. YouTube has no "
    "private messages; every reply is public.",
)


class YouTubeConnector:
    name = NAME
    limits = LIMITS

    def parse(self, payload: dict[str, Any], account: AccountCredentials) -> ParseResult:
        payload = require_object(payload, NAME)
        kind = payload.get("kind", "")
        result = ParseResult()
        if kind == "youtube#commentThreadListResponse":
            for thread in as_list(payload.get("items")):
                self._thread(thread, account, result)
        elif kind == "youtube#commentThread":
            self._thread(payload, account, result)
        elif kind == "youtube#commentListResponse":
            for comment in as_list(payload.get("items")):
                result.messages.append(self._comment(as_dict(comment), None, account))
        elif kind == "youtube#comment":
            result.messages.append(self._comment(payload, None, account))
        else:
            raise PayloadError(f"youtube: kind {kind!r} is not a commentThread or comment list/resource")
        return result

    def _thread(self, thread: Any, account: AccountCredentials, result: ParseResult) -> None:
        thread = as_dict(thread)
        thread_id = text_id(thread.get("id"))
        snippet = as_dict(thread.get("snippet"))
        top = as_dict(snippet.get("topLevelComment"))
        if not thread_id or not top:
            raise PayloadError("youtube: commentThread without id or topLevelComment")
        public = snippet.get("isPublic", True) is not False
        result.messages.append(self._comment(top, thread_id, account, public))
        for reply in as_list(as_dict(thread.get("replies")).get("comments")):
            result.messages.append(self._comment(as_dict(reply), thread_id, account, public))

    def _comment(
        self,
        comment: dict[str, Any],
        thread_id: str | None,
        account: AccountCredentials,
        public: bool = True,
    ) -> InboundMessage:
        comment_id = text_id(comment.get("id"))
        snippet = as_dict(comment.get("snippet"))
        if not comment_id or not snippet.get("publishedAt"):
            raise PayloadError("youtube: comment without id or snippet.publishedAt")
        parent = text_id(snippet.get("parentId")) or None
        author_id = text_id(as_dict(snippet.get("authorChannelId")).get("value"))
        display = snippet.get("authorDisplayName", "") or ""
        own = bool(account.external_id) and author_id == account.external_id
        return InboundMessage(
            platform=NAME,
            external_id=comment_id,
            # A reply's parentId is its thread's top-level comment, whose id is the thread id.
            thread_key=thread_id or parent or comment_id,
            author_id=author_id,
            author_handle=display[1:] if display.startswith("@") else "",
            author_name=display,
            # textOriginal is what the author typed; textDisplay is HTML.
            text=snippet.get("textOriginal") or snippet.get("textDisplay") or "",
            sent_at=from_iso(snippet["publishedAt"]),
            is_public=public,
            reply_to_external_id=parent,
            direction="outbound" if own else "inbound",
            raw=comment,
        )

    # --- webhooks (our poller's) --------------------------------------------------------

    def signature_headers(self, body: bytes, account: AccountCredentials) -> dict[str, str]:
        secret = require_secret(account.app_secret, "app secret")
        return {"X-Hub-Signature-256": meta_signature(body, secret)}

    def verify_signature(self, body: bytes, headers: dict[str, str], account: AccountCredentials) -> None:
        verify_meta_signature(body, headers, account)

    def handshake(self, params: dict[str, str], account: AccountCredentials) -> str:
        return meta_handshake(params, account)

    # --- sending ------------------------------------------------------------------------

    def text_length(self, text: str) -> int:
        return len(text)

    def send(self, reply: OutboundReply, account: AccountCredentials) -> SendResult:
        # Every YouTube reply is a public comment.
        check_text(reply.text, self.text_length(reply.text), self.limits, True, NAME)
        parent = reply.thread_key or reply.reply_to_external_id
        if not parent:
            raise SendError("youtube: a reply needs the comment thread id", retryable=False)
        answer = post_json(
            f"{api_base(account, DEFAULT_API_BASE)}/youtube/v3/comments",
            {"snippet": {"parentId": parent, "textOriginal": reply.text}},
            name=NAME,
            reply=reply,
            headers=bearer(account),
            params={"part": "snippet"},
        )
        if not answer.get("id"):
            raise SendError(f"youtube: no id in the response {answer!r}", retryable=True)
        return SendResult(external_id=text_id(answer["id"]), raw=answer)


CONNECTOR = YouTubeConnector()


def sign(body: bytes, account: AccountCredentials) -> dict[str, str]:
    return CONNECTOR.signature_headers(body, account)
