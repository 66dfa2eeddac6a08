"""Ingestion: a platform's normalized items become stored messages, threaded, with customers.

Everything here runs inside the caller's transaction, so a webhook is acknowledged only
after its messages are committed. Lookups go through per-batch caches, which is what lets a
file import store thousands of rows per second without one SELECT per row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from socialdesk.analytics.surveys import is_survey_answer
from socialdesk.brands.models import SocialAccount
from socialdesk.config import get_settings
from socialdesk.conversations.aliases import latest_on_threads
from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.conversations.threading import add_message, place_message
from socialdesk.customers.models import Customer, Identity
from socialdesk.db.base import utcnow
from socialdesk.ingest.models import DeadLetter
from socialdesk.platforms.base import InboundMessage, StatusUpdate

log = logging.getLogger(__name__)

DELIVERY_ORDER = {"queued": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}


@dataclass(slots=True)
class IngestReport:
    messages: int = 0
    duplicates: int = 0
    conversations: int = 0
    customers: int = 0
    mentions: int = 0
    statuses: int = 0
    dead_letters: int = 0
    message_ids: list[int] = field(default_factory=list)

    def add(self, other: IngestReport) -> None:
        for name in (
            "messages",
            "duplicates",
            "conversations",
            "customers",
            "mentions",
            "statuses",
            "dead_letters",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.message_ids.extend(other.message_ids)

    def to_dict(self) -> dict[str, int]:
        return {
            "messages": self.messages,
            "duplicates": self.duplicates,
            "conversations": self.conversations,
            "customers": self.customers,
            "mentions": self.mentions,
            "statuses": self.statuses,
            "dead_letters": self.dead_letters,
        }


def record_dead_letter(
    session: Session,
    *,
    source: str,
    reason: str,
    payload: str | bytes,
    platform: str = "",
    account_slug: str = "",
    details: dict[str, Any] | None = None,
) -> DeadLetter:
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", errors="replace")
    letter = DeadLetter(
        source=source,
        platform=platform,
        account_slug=account_slug,
        reason=reason,
        payload=payload,
        details=details or {},
    )
    session.add(letter)
    return letter


class Ingestor:
    """Stores items for one account at a time; reuse one instance for a whole batch."""

    def __init__(self, session: Session) -> None:
        self.session = session
        settings = get_settings()
        self.max_text_bytes = settings.max_text_bytes
        self.reopen_window = timedelta(hours=settings.reopen_window_hours)
        self._messages: dict[tuple[int, str], Message | None] = {}
        self._identities: dict[tuple[str, str], Identity | None] = {}
        self._threads: dict[tuple[int, str], Conversation | None] = {}
        self._new: list[Message] = []

    def prime(self, account: SocialAccount, items: Iterable[InboundMessage]) -> None:
        """Load in one query each what a batch will look up, instead of once per row."""
        items = list(items)
        ids = {i.external_id for i in items} | {
            i.reply_to_external_id for i in items if i.reply_to_external_id
        }
        for chunk in _chunks(sorted(ids), 500):
            found = self.session.scalars(
                select(Message).where(Message.account_id == account.id, Message.external_id.in_(chunk))
            ).all()
            known = {m.external_id: m for m in found}
            for ext in chunk:
                self._messages.setdefault((account.id, ext), known.get(ext))
        authors = sorted({i.author_id for i in items if i.direction == "inbound"})
        for chunk in _chunks(authors, 500):
            found_ids = {
                identity.external_user_id: identity
                for identity in self.session.scalars(
                    select(Identity).where(
                        Identity.platform == account.platform, Identity.external_user_id.in_(chunk)
                    )
                )
            }
            for author in chunk:
                self._identities.setdefault((account.platform, author), found_ids.get(author))
        keys = sorted({i.thread_key for i in items} - {k for a, k in self._threads if a == account.id})
        for chunk in _chunks(keys, 500):
            # Thread aliases (a handoff's DM thread) count: see conversations.aliases.
            latest = latest_on_threads(self.session, account.id, chunk)
            for key in chunk:
                self._threads.setdefault((account.id, key), latest.get(key))

    def store(self, account: SocialAccount, item: InboundMessage, report: IngestReport) -> Message | None:
        """Store one item; returns the new message, or None for a duplicate or dead letter."""
        with self.session.no_autoflush:
            return self._store(account, item, report)

    def _store(self, account: SocialAccount, item: InboundMessage, report: IngestReport) -> Message | None:
        if len(item.text.encode("utf-8", errors="replace")) > self.max_text_bytes:
            record_dead_letter(
                self.session,
                source="webhook",
                platform=account.platform,
                account_slug=account.slug,
                reason=f"text of message {item.external_id} is larger than {self.max_text_bytes} bytes",
                payload=str(item.raw)[:10_000],
            )
            report.dead_letters += 1
            return None
        if self._message(account, item.external_id) is not None:
            report.duplicates += 1
            return None

        message = Message(
            account_id=account.id,
            platform=account.platform,
            direction=item.direction,
            external_id=item.external_id,
            thread_key=item.thread_key,
            reply_to_external_id=item.reply_to_external_id,
            author_external_id=item.author_id,
            author_handle=item.author_handle,
            author_name=item.author_name,
            text=item.text,
            is_public=item.is_public,
            sent_at=item.sent_at,
            language=item.language_hint,
            raw=item.raw,
            # Every column explicit: rows with the same columns go out in one executemany.
            kind="message",
            conversation_id=None,
            customer_id=None,
            received_at=utcnow(),
            sentiment="",
            issue_type="",
            urgency=None,
            triage=None,
            processed_at=None,
            delivery_status="sent" if item.direction == "outbound" else "",
            sent_by_agent_id=None,
        )
        customer = None
        if item.direction == "inbound":
            customer = self._customer(account, item, report)
            message.customer = customer

        conversation, survey_answer = self._conversation_for(account, item, customer, report)
        if conversation is None:
            message.kind = "mention" if item.direction == "inbound" else "post"
        else:
            for event in add_message(conversation, message, survey_answer=survey_answer):
                self.session.add(event)
        self.session.add(message)
        self._messages[(account.id, item.external_id)] = message
        self._new.append(message)
        report.messages += 1
        if message.kind == "mention":
            report.mentions += 1
        return message

    def finish(self, report: IngestReport) -> None:
        """Flush the batch and collect the new messages' ids for the processing queue."""
        self.session.flush()
        report.message_ids.extend(m.id for m in self._new)
        self._new.clear()

    def _message(self, account: SocialAccount, external_id: str) -> Message | None:
        key = (account.id, external_id)
        if key not in self._messages:
            self._messages[key] = self.session.scalar(
                select(Message).where(Message.account_id == account.id, Message.external_id == external_id)
            )
        return self._messages[key]

    def _customer(self, account: SocialAccount, item: InboundMessage, report: IngestReport) -> Customer:
        key = (account.platform, item.author_id)
        identity = self._identities.get(key)
        if identity is None and key not in self._identities:
            identity = self.session.scalar(
                select(Identity).where(
                    Identity.platform == account.platform,
                    Identity.external_user_id == item.author_id,
                )
            )
        if identity is None:
            customer = Customer(name=item.author_name or item.author_handle, followers=item.author_followers)
            identity = Identity(
                customer=customer,
                platform=account.platform,
                external_user_id=item.author_id,
                handle=item.author_handle,
                display_name=item.author_name,
                followers=item.author_followers,
            )
            self.session.add_all([customer, identity])
            report.customers += 1
        else:
            if item.author_handle and identity.handle != item.author_handle:
                identity.handle = item.author_handle
            if item.author_followers and identity.followers != item.author_followers:
                identity.followers = item.author_followers
                identity.customer.followers = max(identity.customer.followers, item.author_followers)
        self._identities[key] = identity
        return identity.customer

    def _conversation_for(
        self,
        account: SocialAccount,
        item: InboundMessage,
        customer: Customer | None,
        report: IngestReport,
    ) -> tuple[Conversation | None, bool]:
        """(its conversation, whether the message answers that finished conversation's survey)."""
        parent_message = (
            self._message(account, item.reply_to_external_id) if item.reply_to_external_id else None
        )
        placement = place_message(
            direction=item.direction,
            at=item.sent_at,
            thread_key=item.thread_key,
            addressed_to_brand=item.addressed_to_brand,
            parent=(parent_message.conversation, parent_message.thread_key) if parent_message else None,
            latest=lambda key: self._latest(account, key),
            reopen_window=self.reopen_window,
            # A known customer's rating reply to a survey answers it instead of reopening.
            answers_survey=(
                (lambda c: is_survey_answer(self.session, c, customer.id, item.text, item.sent_at))
                if customer is not None and customer.id is not None
                else None
            ),
        )
        if placement is None:
            return None, False
        if placement.conversation is not None:
            return placement.conversation, placement.survey_answer
        conversation = Conversation(
            brand_id=account.brand_id,
            account_id=account.id,
            platform=account.platform,
            thread_key=placement.thread_key,
            generation=placement.generation,
            status="new",
            language=item.language_hint,
            visibility="public" if item.is_public else "private",
            subject=item.text[:200],
            first_message_at=item.sent_at,
            last_message_at=item.sent_at,
        )
        conversation.customer = customer
        self.session.add(conversation)
        self.session.add(
            ConversationEvent(
                conversation=conversation,
                kind="created",
                at=item.sent_at,
                actor_agent_id=None,
                data={"thread_key": placement.thread_key, "platform": account.platform},
            )
        )
        self._threads[(account.id, placement.thread_key)] = conversation
        report.conversations += 1
        return conversation, False

    def _latest(self, account: SocialAccount, thread_key: str) -> Conversation | None:
        key = (account.id, thread_key)
        if key not in self._threads:
            self._threads[key] = latest_on_threads(self.session, account.id, [thread_key]).get(thread_key)
        return self._threads[key]


def apply_status(session: Session, account: SocialAccount, status: StatusUpdate) -> bool:
    """Move an outbound message's delivery state forward; never backwards (read > delivered)."""
    message = session.execute(
        select(Message.id, Message.delivery_status).where(
            Message.account_id == account.id, Message.external_id == status.external_id
        )
    ).first()
    if message is None:
        return False
    current = DELIVERY_ORDER.get(message.delivery_status, -1)
    if DELIVERY_ORDER.get(status.status, -1) > current:
        session.execute(
            update(Message)
            .where(Message.id == message.id)
            .values(delivery_status=status.status)
            .execution_options(synchronize_session=False)
        )
    return True


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
