"""Telegram Bot API: webhook ``Update`` objects.

Message ids are unique only inside a chat, so our external id is ``"<chat id>:<message id>"``
and the thread key is the chat id. An ``edited_message`` gets its own external id
(``...:edit:<edit_date>``) and replies to the original, so the edit is kept beside it.

Private chats are private; groups, supergroups and channels are public. In a group a
message is addressed to the bot when it mentions ``@handle``, replies to one of the bot's
messages or starts with a ``/command``; other group chatter is a listening mention.
Updates without a message (callback queries, inline queries, member changes...) are
recognised and ignored.
"""

from __future__ import annotations

from typing import Any

from socialdesk.platforms._common import (
    api_base,
    as_dict,
    as_list,
    check_text,
    from_epoch,
    header,
    post_json,
    require_object,
    require_secret,
    same,
    text_id,
    utf16_length,
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
    SignatureError,
)

NAME = "telegram"
DEFAULT_API_BASE = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post", "business_message")

LIMITS = PlatformLimits(
    max_chars_public=4096,
    max_chars_private=4096,
    messaging_window_hours=None,
    notes="sendMessage text: 1-4096 characters after entities parsing (counted in UTF-16 "
    "code units, as Telegram does).",
)


def message_key(chat_id: str, message_id: Any) -> str:
    return f"{chat_id}:{text_id(message_id)}"


def display_name(user: dict[str, Any]) -> str:
    return " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or (
        user.get("title", "") or ""
    )


class TelegramConnector:
    name = NAME
    limits = LIMITS

    def parse(self, payload: dict[str, Any], account: AccountCredentials) -> ParseResult:
        payload = require_object(payload, NAME)
        key = next((k for k in MESSAGE_KEYS if isinstance(payload.get(k), dict)), None)
        if key is None:
            if "update_id" in payload:
                return ParseResult()  # an Update we have nothing to answer for
            raise PayloadError("telegram: not a Bot API Update (no update_id or message)")
        return ParseResult(messages=[self._message(payload[key], key, account)])

    def _message(self, message: dict[str, Any], key: str, account: AccountCredentials) -> InboundMessage:
        chat = as_dict(message.get("chat"))
        chat_id = text_id(chat.get("id"))
        if not chat_id or "message_id" not in message:
            raise PayloadError(f"telegram: {key} without chat id or message_id")
        # Channel posts have no `from`: the channel (sender_chat) speaks.
        sender = as_dict(message.get("from")) or as_dict(message.get("sender_chat")) or chat
        author_id = text_id(sender.get("id"))
        username = sender.get("username", "") or ""
        chat_type = chat.get("type", "private")
        external_id = message_key(chat_id, message["message_id"])
        reply_to: str | None = None
        original = as_dict(message.get("reply_to_message"))
        if original.get("message_id") is not None:
            reply_to = message_key(chat_id, original["message_id"])
        if key.startswith("edited_"):
            reply_to = external_id
            external_id = f"{external_id}:edit:{text_id(message.get('edit_date', ''))}"
        text = message.get("text") or message.get("caption") or ""
        own = self._is_own(author_id, username, account)
        return InboundMessage(
            platform=NAME,
            external_id=external_id,
            thread_key=chat_id,
            author_id=author_id,
            author_handle=username,
            author_name=display_name(sender),
            text=text,
            sent_at=from_epoch(message.get("date")),
            is_public=chat_type != "private",
            reply_to_external_id=reply_to,
            direction="outbound" if own else "inbound",
            addressed_to_brand=own or chat_type == "private" or self._addressed(message, text, account),
            language_hint=sender.get("language_code", "") or "",
            raw=message,
        )

    @staticmethod
    def _is_own(author_id: str, username: str, account: AccountCredentials) -> bool:
        if account.external_id and author_id == account.external_id:
            return True
        return bool(account.handle and username) and (username.lower() == account.handle.lstrip("@").lower())

    def _addressed(self, message: dict[str, Any], text: str, account: AccountCredentials) -> bool:
        if text.startswith("/"):
            return True  # bot commands are for bots
        handle = account.handle.lstrip("@").lower()
        if handle and f"@{handle}" in text.lower():
            return True
        replied = as_dict(as_dict(message.get("reply_to_message")).get("from"))
        if replied and self._is_own(text_id(replied.get("id")), replied.get("username", ""), account):
            return True
        return any(
            as_dict(e.get("user")).get("id") is not None
            and text_id(as_dict(e.get("user")).get("id")) == account.external_id
            for e in as_list(message.get("entities"))
            if isinstance(e, dict) and e.get("type") == "text_mention"
        )

    # --- webhooks -----------------------------------------------------------------------

    def signature_headers(self, body: bytes, account: AccountCredentials) -> dict[str, str]:
        """Telegram signs nothing: it echoes the ``secret_token`` given to setWebhook."""
        return {SECRET_HEADER: require_secret(account.verify_token, "webhook secret_token")}

    def verify_signature(self, body: bytes, headers: dict[str, str], account: AccountCredentials) -> None:
        secret = require_secret(account.verify_token, "webhook secret_token")
        given = header(headers, SECRET_HEADER)
        if not given:
            raise SignatureError(f"missing {SECRET_HEADER} header")
        if not same(given, secret):
            raise SignatureError(f"{SECRET_HEADER} does not match")

    def handshake(self, params: dict[str, str], account: AccountCredentials) -> Any:
        raise SignatureError("telegram has no GET handshake; register the URL with setWebhook")

    # --- sending ------------------------------------------------------------------------

    def text_length(self, text: str) -> int:
        return utf16_length(text)

    def send(self, reply: OutboundReply, account: AccountCredentials) -> SendResult:
        check_text(reply.text, self.text_length(reply.text), self.limits, reply.is_public, NAME)
        chat_id = reply.thread_key or reply.recipient_id
        if not chat_id:
            raise SendError("telegram: a reply needs the chat id", retryable=False)
        if not account.access_token:
            raise SendError("telegram: the account has no bot token", retryable=False)
        body: dict[str, Any] = {"chat_id": chat_id, "text": reply.text}
        if reply.reply_to_external_id:
            # Our Telegram ids are "<chat>:<message>"; the API wants the message part.
            message_id = reply.reply_to_external_id.rsplit(":", 1)[-1]
            if message_id.lstrip("-").isdigit():
                # allow_sending_without_reply: a deleted original must not fail the answer.
                body["reply_parameters"] = {
                    "message_id": int(message_id),
                    "allow_sending_without_reply": True,
                }
        base = api_base(account, DEFAULT_API_BASE)
        answer = post_json(f"{base}/bot{account.access_token}/sendMessage", body, name=NAME, reply=reply)
        result = as_dict(answer.get("result"))
        if not answer.get("ok") or result.get("message_id") is None:
            raise SendError(f"telegram: unexpected response {answer!r}", retryable=True)
        chat = text_id(as_dict(result.get("chat")).get("id")) or chat_id
        return SendResult(external_id=message_key(chat, result["message_id"]), raw=answer)


CONNECTOR = TelegramConnector()


def sign(body: bytes, account: AccountCredentials) -> dict[str, str]:
    return CONNECTOR.signature_headers(body, account)
