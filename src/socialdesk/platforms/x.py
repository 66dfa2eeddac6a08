"""X (Twitter): API v2 Post objects, filtered-stream items and Account Activity events.

Threading: a Post's thread key is its ``conversation_id``; without one (Account Activity
delivers v1.1 objects) it is the Post it replies to, else its own id. DMs thread on X's
one-to-one ``dm_conversation_id`` form: the two user ids, smaller first, joined by ``-``.

Addressed to the brand (``addressed_to_brand``): a public Post is addressed to the account
when the account wrote it, when it replies to the account (``in_reply_to_user_id``), or when
``@handle`` is among the mentions that *lead* the text (the reply prefix X writes). A Post
that only mentions the brand later in the text, or that the filtered stream matched on a
keyword, is a listening mention (addressed_to_brand=False). DMs are always addressed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from socialdesk.platforms._common import (
    api_base,
    as_dict,
    as_list,
    b64_hmac,
    bearer,
    check_text,
    from_epoch,
    from_iso,
    header,
    post_json,
    require_object,
    require_secret,
    same,
    text_id,
)
from socialdesk.platforms._twitter_text_compat import parse_tweet
from socialdesk.platforms.base import (
    AccountCredentials,
    InboundMessage,
    OutboundReply,
    ParseResult,
    PayloadError,
    PlatformLimits,
    SendError,
    SendResult,
    SignatureError,
)

NAME = "x"
DEFAULT_API_BASE = "https://api.x.com"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
# Snowflake ids carry their creation time: (id >> 22) ms after X's epoch.
TWITTER_EPOCH_MS = 1288834974657

LIMITS = PlatformLimits(
    max_chars_public=280,
    max_chars_private=10_000,
    messaging_window_hours=None,
    weighted_length=True,
    notes="Posts: 280 weighted characters (twitter-text: URLs count 23, CJK and emoji 2). "
    "DMs: 10,000 characters.",
)

# Account Activity event arrays that carry nothing to answer (likes, follows, typing...).
IGNORED_ACTIVITY_KEYS = frozenset(
    {
        "favorite_events",
        "follow_events",
        "unfollow_events",
        "block_events",
        "unblock_events",
        "mute_events",
        "unmute_events",
        "user_event",
        "direct_message_indicate_typing_events",
        "direct_message_mark_read_events",
        "tweet_delete_events",
        "replay_job_status",
        "spaces_events",
    }
)
_LEADING_MENTIONS = re.compile(r"^(?:\s*@\w{1,15}\b)+")


def snowflake_time(tweet_id: str) -> datetime:
    """Creation time encoded in an X id, used when a payload leaves out ``created_at``."""
    try:
        millis = (int(tweet_id) >> 22) + TWITTER_EPOCH_MS
    except ValueError as exc:
        raise PayloadError(f"x: no created_at and id {tweet_id!r} is not a snowflake") from exc
    return datetime.fromtimestamp(millis / 1000.0, tz=UTC)


def leading_mentions(text: str) -> set[str]:
    match = _LEADING_MENTIONS.match(text)
    if not match:
        return set()
    return {m.lower() for m in re.findall(r"@(\w{1,15})", match.group(0))}


class XConnector:
    name = NAME
    limits = LIMITS

    # --- parsing ----------------------------------------------------------------------

    def parse(self, payload: dict[str, Any], account: AccountCredentials) -> ParseResult:
        payload = require_object(payload, NAME)
        if "data" in payload:
            return self._parse_v2(payload, account)
        activity_keys = {"tweet_create_events", "direct_message_events"} | IGNORED_ACTIVITY_KEYS
        if "for_user_id" in payload or activity_keys & payload.keys():
            return self._parse_activity(payload, account)
        raise PayloadError(
            "x: neither an API v2 object (no 'data') nor an Account Activity event "
            "(no 'for_user_id' or known event array)"
        )

    def _parse_v2(self, payload: dict[str, Any], account: AccountCredentials) -> ParseResult:
        data = payload["data"]
        items = data if isinstance(data, list) else [data]
        users = {text_id(u.get("id")): u for u in as_list(as_dict(payload.get("includes")).get("users"))}
        result = ParseResult()
        for item in items:
            if not isinstance(item, dict) or not item.get("id"):
                raise PayloadError("x: a 'data' item has no id")
            if "event_type" in item:
                message = self._v2_dm_event(item, users, account)
                if message is not None:
                    result.messages.append(message)
                continue
            result.messages.append(self._v2_post(item, users, account))
        return result

    def _v2_post(
        self, tweet: dict[str, Any], users: dict[str, dict[str, Any]], account: AccountCredentials
    ) -> InboundMessage:
        tweet_id = text_id(tweet["id"])
        author_id = text_id(tweet.get("author_id"))
        user = users.get(author_id, {})
        replied_to = next(
            (
                text_id(ref.get("id"))
                for ref in as_list(tweet.get("referenced_tweets"))
                if isinstance(ref, dict) and ref.get("type") == "replied_to"
            ),
            None,
        )
        # Long posts carry the full text in note_tweet; `text` is then truncated.
        text = as_dict(tweet.get("note_tweet")).get("text") or tweet.get("text") or ""
        sent_at = from_iso(tweet["created_at"]) if tweet.get("created_at") else snowflake_time(tweet_id)
        handle = user.get("username", "")
        outbound = self._is_own(author_id, handle, account)
        return InboundMessage(
            platform=NAME,
            external_id=tweet_id,
            thread_key=text_id(tweet.get("conversation_id")) or replied_to or tweet_id,
            author_id=author_id,
            author_handle=handle,
            author_name=user.get("name", ""),
            text=text,
            sent_at=sent_at,
            is_public=True,
            reply_to_external_id=replied_to,
            direction="outbound" if outbound else "inbound",
            addressed_to_brand=outbound
            or self._addressed(text, text_id(tweet.get("in_reply_to_user_id")), account),
            author_followers=int(as_dict(user.get("public_metrics")).get("followers_count", 0)),
            language_hint=tweet.get("lang", "") or "",
            raw=tweet,
        )

    def _v2_dm_event(
        self, event: dict[str, Any], users: dict[str, dict[str, Any]], account: AccountCredentials
    ) -> InboundMessage | None:
        if event.get("event_type") != "MessageCreate":
            return None  # ParticipantsJoin/Leave carry no text
        sender = text_id(event.get("sender_id"))
        user = users.get(sender, {})
        event_id = text_id(event["id"])
        return InboundMessage(
            platform=NAME,
            external_id=event_id,
            thread_key=text_id(event.get("dm_conversation_id")) or sender,
            author_id=sender,
            author_handle=user.get("username", ""),
            author_name=user.get("name", ""),
            text=event.get("text", "") or "",
            sent_at=from_iso(event["created_at"]) if event.get("created_at") else snowflake_time(event_id),
            is_public=False,
            direction="outbound" if self._is_own(sender, "", account) else "inbound",
            raw=event,
        )

    def _parse_activity(self, payload: dict[str, Any], account: AccountCredentials) -> ParseResult:
        # for_user_id names the subscribed account; it stands in when the account has no id set.
        own_id = account.external_id or text_id(payload.get("for_user_id"))
        result = ParseResult()
        for tweet in as_list(payload.get("tweet_create_events")):
            message = self._v1_tweet(tweet, own_id, account)
            if message is not None:
                result.messages.append(message)
        users = as_dict(payload.get("users"))
        for event in as_list(payload.get("direct_message_events")):
            message = self._v1_dm(event, users, own_id)
            if message is not None:
                result.messages.append(message)
        return result

    def _v1_tweet(self, tweet: Any, own_id: str, account: AccountCredentials) -> InboundMessage | None:
        if not isinstance(tweet, dict):
            raise PayloadError("x: tweet_create_events item is not an object")
        if "retweeted_status" in tweet:
            return None  # a repost repeats someone else's words; nothing to answer
        tweet_id = text_id(tweet.get("id_str") or tweet.get("id"))
        if not tweet_id:
            raise PayloadError("x: tweet_create_events item has no id")
        user = as_dict(tweet.get("user"))
        author_id = text_id(user.get("id_str") or user.get("id"))
        handle = user.get("screen_name", "")
        text = (
            as_dict(tweet.get("extended_tweet")).get("full_text")
            or tweet.get("full_text")
            or tweet.get("text")
            or ""
        )
        replied_to = text_id(tweet.get("in_reply_to_status_id_str")) or None
        created = tweet.get("created_at")
        sent_at = (
            datetime.strptime(created, "%a %b %d %H:%M:%S %z %Y").astimezone(UTC)
            if created
            else snowflake_time(tweet_id)
        )
        outbound = author_id == own_id or self._is_own(author_id, handle, account)
        in_reply_to_user = text_id(tweet.get("in_reply_to_user_id_str"))
        return InboundMessage(
            platform=NAME,
            external_id=tweet_id,
            # v1.1 objects have no conversation_id: the parent is the best root we know.
            thread_key=text_id(tweet.get("conversation_id")) or replied_to or tweet_id,
            author_id=author_id,
            author_handle=handle,
            author_name=user.get("name", ""),
            text=text,
            sent_at=sent_at,
            is_public=True,
            reply_to_external_id=replied_to,
            direction="outbound" if outbound else "inbound",
            addressed_to_brand=outbound
            or (bool(own_id) and in_reply_to_user == own_id)
            or self._addressed(text, in_reply_to_user, account),
            author_followers=int(user.get("followers_count", 0) or 0),
            language_hint=tweet.get("lang", "") or "",
            raw=tweet,
        )

    def _v1_dm(self, event: Any, users: dict[str, Any], own_id: str) -> InboundMessage | None:
        if not isinstance(event, dict):
            raise PayloadError("x: direct_message_events item is not an object")
        if event.get("type") != "message_create":
            return None
        create = as_dict(event.get("message_create"))
        sender = text_id(create.get("sender_id"))
        recipient = text_id(as_dict(create.get("target")).get("recipient_id"))
        user = as_dict(users.get(sender))
        pair = sorted(filter(None, (sender, recipient)), key=lambda v: (len(v), v))
        return InboundMessage(
            platform=NAME,
            external_id=text_id(event.get("id")),
            thread_key="-".join(pair),
            author_id=sender,
            author_handle=user.get("screen_name", ""),
            author_name=user.get("name", ""),
            text=as_dict(create.get("message_data")).get("text", "") or "",
            sent_at=from_epoch(event.get("created_timestamp")),
            is_public=False,
            direction="outbound" if own_id and sender == own_id else "inbound",
            author_followers=int(user.get("followers_count", 0) or 0),
            raw=event,
        )

    @staticmethod
    def _is_own(author_id: str, handle: str, account: AccountCredentials) -> bool:
        if account.external_id and author_id == account.external_id:
            return True
        return bool(account.handle and handle) and (handle.lower() == account.handle.lstrip("@").lower())

    @staticmethod
    def _addressed(text: str, in_reply_to_user_id: str, account: AccountCredentials) -> bool:
        if account.external_id and in_reply_to_user_id == account.external_id:
            return True
        handle = account.handle.lstrip("@").lower()
        return bool(handle) and handle in leading_mentions(text)

    # --- webhooks -----------------------------------------------------------------------

    def signature_headers(self, body: bytes, account: AccountCredentials) -> dict[str, str]:
        secret = require_secret(account.app_secret, "consumer secret (app_secret)")
        return {SIGNATURE_HEADER: "sha256=" + b64_hmac(secret, body)}

    def verify_signature(self, body: bytes, headers: dict[str, str], account: AccountCredentials) -> None:
        given = header(headers, SIGNATURE_HEADER)
        if not given:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header")
        expected = self.signature_headers(body, account)[SIGNATURE_HEADER]
        if not same(given.strip(), expected):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")

    def handshake(self, params: dict[str, str], account: AccountCredentials) -> dict[str, str]:
        """CRC: answer ``crc_token`` with its HMAC-SHA256 under the consumer secret."""
        token = params.get("crc_token")
        if not token:
            raise SignatureError("missing crc_token")
        secret = require_secret(account.app_secret, "consumer secret (app_secret)")
        return {"response_token": "sha256=" + b64_hmac(secret, token.encode("utf-8"))}

    # --- sending ------------------------------------------------------------------------

    def text_length(self, text: str) -> int:
        return int(parse_tweet(text).weightedLength)

    def send(self, reply: OutboundReply, account: AccountCredentials) -> SendResult:
        length = self.text_length(reply.text) if reply.is_public else len(reply.text)
        check_text(reply.text, length, self.limits, reply.is_public, NAME)
        base = api_base(account, DEFAULT_API_BASE)
        if reply.is_public:
            body: dict[str, Any] = {"text": reply.text}
            if reply.reply_to_external_id:
                body["reply"] = {"in_reply_to_tweet_id": reply.reply_to_external_id}
            answer = post_json(f"{base}/2/tweets", body, name=NAME, reply=reply, headers=bearer(account))
            new_id = as_dict(answer.get("data")).get("id")
        else:
            if not reply.recipient_id:
                raise SendError("x: a DM needs the recipient's user id", retryable=False)
            answer = post_json(
                f"{base}/2/dm_conversations/with/{reply.recipient_id}/messages",
                {"text": reply.text},
                name=NAME,
                reply=reply,
                headers=bearer(account),
            )
            new_id = as_dict(answer.get("data")).get("dm_event_id")
        if not new_id:
            raise SendError(f"x: no id in the response {answer!r}", retryable=True)
        return SendResult(external_id=text_id(new_id), raw=answer)


CONNECTOR = XConnector()


def sign(body: bytes, account: AccountCredentials) -> dict[str, str]:
    """Headers X would send with ``body`` (for demo replay and tests)."""
    return CONNECTOR.signature_headers(body, account)
