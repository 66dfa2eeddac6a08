"""Sending the outbox: claim, send, record; retries with backoff; reconciliation.

The protocol, per item, each step its own transaction:

1. **claim**: ``queued`` → ``sending`` with ``claimed_until = now + lease`` and attempts + 1,
   by a conditional UPDATE, so two senders never claim the same item;
2. **send** through the connector with the item's fixed idempotency key;
3. **record**: ``sent`` with the platform's id (or back to ``queued`` with a backoff, or
   ``failed``).

A sender that dies between 2 and 3 leaves the item ``sending``. Once its claim expires, any
sender reconciles it by sending again with the *same* idempotency key: the platform answers
with the id of the first send instead of posting twice, and the record step completes. If a
platform echo of our own message (a webhook) was stored meanwhile under that id, it is the
same message: the echo row is folded into ours.

Automatic and scheduled replies wait while ``listening.crisis.automation_paused`` says the
conversation is under a crisis pause.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from socialdesk.brands.models import SocialAccount
from socialdesk.conversations.actions import record
from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.conversations.threading import add_message
from socialdesk.db.base import utcnow
from socialdesk.live import publish
from socialdesk.outbox.models import OutboxItem
from socialdesk.outbox.service import window_open
from socialdesk.platforms.base import AccountCredentials, OutboundReply, SendError, SendResult
from socialdesk.platforms.registry import get_connector

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=120)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 6
CRISIS_RECHECK = timedelta(minutes=5)
# Test hook: seconds to sleep between the platform's answer and the record step, after
# printing a marker line, so a test can kill the sender exactly there.
PAUSE_ENV = "SOCIALDESK_OUTBOX_PAUSE_AFTER_SEND"
PAUSE_MARKER = "outbox: sent, about to record"


@dataclass(slots=True)
class SendReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    paused: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("sent", "retrying", "failed", "paused")}


def backoff(attempts: int, base: timedelta = BACKOFF_BASE, cap: timedelta = BACKOFF_MAX) -> timedelta:
    """Delay before attempt ``attempts + 1``: base, 2×base, 4×base… capped."""
    return min(base * (2 ** max(attempts - 1, 0)), cap)


def automation_paused(session: Session, conversation: Conversation) -> bool:
    try:
        from socialdesk.listening.crisis import automation_paused as paused
    except ImportError:
        return False
    return bool(paused(session, conversation))


def credentials(account: SocialAccount) -> AccountCredentials:
    return AccountCredentials(
        external_id=account.external_id,
        handle=account.handle,
        app_secret=account.app_secret,
        verify_token=account.verify_token,
        access_token=account.access_token,
        api_base_url=account.api_base_url,
    )


def _due(now: datetime):
    return or_(
        and_(OutboxItem.state == "queued", OutboxItem.next_attempt_at <= now),
        and_(OutboxItem.state == "sending", OutboxItem.claimed_until < now),
    )


class Sender:
    def __init__(
        self,
        sessions: sessionmaker[Session] | None = None,
        *,
        lease: timedelta = DEFAULT_LEASE,
        base_delay: timedelta = BACKOFF_BASE,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        import socialdesk.db.models  # noqa: F401  (every mapper, for a sender running on its own)

        if sessions is None:
            from socialdesk.db.engine import get_sessionmaker

            sessions = get_sessionmaker()
        self.sessions = sessions
        self.lease = lease
        self.base_delay = base_delay
        self.max_attempts = max_attempts

    def send_due(self, *, now: datetime | None = None, limit: int = 100) -> SendReport:
        """One pass over everything due (including stale claims to reconcile)."""
        report = SendReport()
        now = now or utcnow()
        with self.sessions() as session:
            ids = session.scalars(
                select(OutboxItem.id).where(_due(now)).order_by(OutboxItem.id).limit(limit)
            ).all()
        for item_id in ids:
            self.send_one(item_id, now=now, report=report)
        return report

    def send_one(self, item_id: int, *, now: datetime | None = None, report: SendReport | None = None) -> str:
        """Claim, send and record one item; returns its state afterwards."""
        report = report if report is not None else SendReport()
        now = now or utcnow()
        with self.sessions() as session, session.begin():
            item = session.get(OutboxItem, item_id)
            if item is None:
                return "missing"
            hold = self._hold_reason(session, item, now)
            if hold == "wait":
                return item.state
            if hold == "paused":
                session.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id == item.id, OutboxItem.state == "queued")
                    .values(next_attempt_at=now + CRISIS_RECHECK)
                )
                report.paused.append(item.id)
                return item.state
            if hold:
                self._fail(session, item, hold, status=None, now=now)
                report.failed.append(item.id)
                return "failed"
            claimed = session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id, _due(now))
                .values(state="sending", claimed_until=now + self.lease, attempts=OutboxItem.attempts + 1)
            ).rowcount
            if claimed != 1:
                return "claimed-elsewhere"
            reply, creds, platform = self._request(session, item)
        try:
            result = get_connector(platform).send(reply, creds)
        except SendError as exc:
            return self._after_error(item_id, exc, now, report)
        except Exception as exc:  # a connector bug must not kill the sender loop
            log.exception("outbox item %s: unexpected send failure", item_id)
            return self._after_error(
                item_id, SendError(f"{type(exc).__name__}: {exc}", retryable=True), now, report
            )
        self._pause_for_tests()
        self._record_sent(item_id, result, report)
        return "sent"

    # --- steps ----------------------------------------------------------------------------

    def _hold_reason(self, session: Session, item: OutboxItem, now: datetime) -> str:
        """ "" to send now; "wait"/"paused" to keep it queued; otherwise why it fails."""
        if item.state == "sending":
            # A stale claim may already have reached the platform: always finish it by
            # resending with the same key, never fail or hold it.
            return ""
        conversation = session.get(Conversation, item.conversation_id)
        if item.after_item_id is not None:
            before = session.get(OutboxItem, item.after_item_id)
            if before is not None and before.state in ("failed", "cancelled"):
                return f"the thread's previous post (outbox item {before.id}) was not sent"
            if before is not None and before.state != "sent":
                return "wait"
        if item.automatic and conversation is not None and automation_paused(session, conversation):
            return "paused"
        connector = get_connector(item.platform)
        if (
            conversation is not None
            and not item.platform_template
            and not window_open(connector, conversation, item.is_public, now)
        ):
            hours = connector.limits.messaging_window_hours
            return f"the {hours}-hour messaging window closed before the reply could be sent"
        return ""

    def _request(self, session: Session, item: OutboxItem) -> tuple[OutboundReply, AccountCredentials, str]:
        message = session.get(Message, item.message_id)
        account = session.get(SocialAccount, item.account_id)
        assert message is not None and account is not None
        reply_to = item.reply_to_external_id
        if item.after_item_id is not None:
            before = session.get(OutboxItem, item.after_item_id)
            reply_to = before.external_id if before is not None else reply_to
        reply = OutboundReply(
            text=message.text,
            thread_key=message.thread_key,
            reply_to_external_id=reply_to,
            recipient_id=item.recipient_id,
            is_public=item.is_public,
            idempotency_key=item.idempotency_key,
            template_name=item.platform_template or None,
            template_language=item.platform_template_language or None,
        )
        return reply, credentials(account), account.platform

    def _pause_for_tests(self) -> None:
        pause = os.environ.get(PAUSE_ENV)
        if pause:
            print(PAUSE_MARKER, flush=True)
            sys.stdout.flush()
            time.sleep(float(pause))

    def _record_sent(self, item_id: int, result: SendResult, report: SendReport) -> None:
        now = utcnow()
        with self.sessions() as session, session.begin():
            item = session.get(OutboxItem, item_id)
            assert item is not None
            message = session.get(Message, item.message_id)
            conversation = session.get(Conversation, item.conversation_id)
            assert message is not None and conversation is not None
            echo = session.scalar(
                select(Message).where(
                    Message.account_id == item.account_id,
                    Message.external_id == result.external_id,
                    Message.id != message.id,
                )
            )
            if echo is not None:
                # The platform's webhook echo of this very send, stored before we recorded it.
                if echo.conversation is not None:
                    echo.conversation.message_count = max((echo.conversation.message_count or 1) - 1, 0)
                for event in session.scalars(
                    select(ConversationEvent).where(
                        ConversationEvent.kind == "message_out",
                        ConversationEvent.conversation_id == echo.conversation_id,
                    )
                ):
                    if (event.data or {}).get("external_id") == result.external_id:
                        event.kind = "message_out_echo"  # counted once, by our own record below
                session.delete(echo)
                session.flush()
            item.state = "sent"
            item.external_id = result.external_id
            item.sent_at = now
            item.claimed_until = None
            item.last_error = ""
            message.external_id = result.external_id
            message.delivery_status = "sent"
            message.sent_at = now
            message.raw = result.raw
            for event in add_message(conversation, message):
                session.add(event)
            conversation.last_message_at = max(conversation.last_message_at, now)
            conversation_id = conversation.id
        report.sent.append(item_id)
        publish("conversation.updated", conversation_id=conversation_id, change="reply_sent")

    def _after_error(self, item_id: int, exc: SendError, now: datetime, report: SendReport) -> str:
        with self.sessions() as session, session.begin():
            item = session.get(OutboxItem, item_id)
            assert item is not None
            if exc.retryable and item.attempts < self.max_attempts:
                item.state = "queued"
                item.claimed_until = None
                item.last_error = str(exc)
                item.last_status = exc.status
                item.next_attempt_at = now + backoff(item.attempts, self.base_delay)
                report.retrying.append(item_id)
                return "queued"
            reason = str(exc) if not exc.retryable else f"gave up after {item.attempts} attempts: {exc}"
            self._fail(session, item, reason, status=exc.status, now=now)
        report.failed.append(item_id)
        return "failed"

    def _fail(
        self, session: Session, item: OutboxItem, reason: str, *, status: int | None, now: datetime
    ) -> None:
        item.state = "failed"
        item.claimed_until = None
        item.last_error = reason
        item.last_status = status
        message = session.get(Message, item.message_id)
        if message is not None:
            message.delivery_status = "failed"
        conversation = session.get(Conversation, item.conversation_id)
        if conversation is not None:
            record(
                session,
                conversation,
                "reply_failed",
                actor=None,
                at=now,
                message_id=item.message_id,
                error=reason,
                status=status,
            )


def run_forever(interval: float = 2.0, *, stop: object | None = None, sender: Sender | None = None) -> None:
    """The sender loop: send what is due and wake snoozed conversations, every ``interval`` s.
    ``stop`` is anything with ``is_set()`` (a threading.Event)."""
    from socialdesk.conversations.actions import wake_snoozed

    sender = sender or Sender()
    while stop is None or not stop.is_set():  # type: ignore[attr-defined]
        try:
            sender.send_due()
            with sender.sessions() as session, session.begin():
                wake_snoozed(session)
        except Exception:  # keep the loop alive across a database hiccup
            log.exception("outbox sender pass failed")
        time.sleep(interval)


def start_background_sender(interval: float = 2.0) -> threading.Event:
    """The embedded default's sender: a daemon thread in this process (the web app or the demo
    can start it in their lifespan). Set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, args=(interval,), kwargs={"stop": stop}, name="socialdesk-outbox", daemon=True
    )
    thread.start()
    return stop


def main() -> None:  # pragma: no cover - the tests run it as a subprocess
    """``python -m socialdesk.outbox.sender``: one pass, printing what happened."""
    import json

    lease = float(os.environ.get("SOCIALDESK_OUTBOX_LEASE_SECONDS", DEFAULT_LEASE.total_seconds()))
    report = Sender(lease=timedelta(seconds=lease)).send_due()
    print(json.dumps(report.to_dict()), flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()
