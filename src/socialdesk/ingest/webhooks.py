"""Webhook ingestion: handshake, verify, parse, store durably, then acknowledge.

A delivery goes through two halves. ``prepare`` (in the request) finds the account, checks
the size and signature and parses the payload; nothing is stored, so a refused delivery
changes nothing. ``store_deliveries`` (in the batch writer's transaction, ingest/writer.py)
stores any number of prepared deliveries at once and gives each its own outcome.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from socialdesk.brands.models import SocialAccount
from socialdesk.ingest.bulk import BulkIngestor
from socialdesk.ingest.service import IngestReport, apply_status, record_dead_letter
from socialdesk.platforms.base import (
    AccountCredentials,
    InboundMessage,
    PayloadError,
    SignatureError,
    StatusUpdate,
)
from socialdesk.platforms.registry import PLATFORMS, get_connector

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
# How long a looked-up account (and its secret) is reused: a changed secret or a removed
# account takes effect within this many seconds. Unknown accounts are never cached.
ACCOUNT_TTL_S = 1.0
# pg_advisory_xact_lock(class, account id): one writer per account at a time across processes.
_ACCOUNT_LOCK_CLASS = 0x5D1


class WebhookError(Exception):
    """A request we refuse; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True, frozen=True)
class AccountRef:
    """What ingestion needs of a connected account, detached from any session."""

    id: int
    brand_id: int
    platform: str
    slug: str
    credentials: AccountCredentials


@dataclass(slots=True)
class Delivery:
    """One verified webhook delivery, parsed, waiting to be stored."""

    account: AccountRef
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    # Set when the payload is JSON no connector recognises: it is kept as a dead letter.
    dead_letter_reason: str | None = None
    body: bytes = b""


@dataclass(slots=True)
class WebhookOutcome:
    report: IngestReport
    dead_letter_id: int | None = None
    dead_letter_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ok", **self.report.to_dict()}
        if self.dead_letter_id is not None:
            body.update(
                status="dead_letter", dead_letter_id=self.dead_letter_id, reason=self.dead_letter_reason
            )
        return body


def credentials(account: SocialAccount) -> AccountCredentials:
    return AccountCredentials(
        external_id=account.external_id,
        handle=account.handle,
        app_secret=account.app_secret,
        verify_token=account.verify_token,
        access_token=account.access_token,
        api_base_url=account.api_base_url,
    )


def find_account(session: Session, platform: str, slug: str) -> SocialAccount:
    if platform not in PLATFORMS:
        raise WebhookError(404, f"unknown platform {platform!r}; expected one of {', '.join(PLATFORMS)}")
    account = session.scalar(
        select(SocialAccount).where(SocialAccount.platform == platform, SocialAccount.slug == slug)
    )
    if account is None:
        raise WebhookError(404, f"no {platform} account named {slug!r} is connected")
    return account


# (database url, platform, slug) → (expires at, account): one lookup per account per second
# instead of one per delivery. The url keeps databases apart (tests, the CLI switching).
_accounts: dict[tuple[str, str, str], tuple[float, AccountRef]] = {}
# Keys being looked up again after they expired: meanwhile other requests use the old entry,
# so a busy account does not send a burst of identical lookups to the database.
_refreshing: set[tuple[str, str, str]] = set()


def cached_account(db_key: str, platform: str, slug: str) -> AccountRef | None:
    """The remembered account, or None: then the caller must call ``lookup_account``."""
    key = (db_key, platform, slug)
    hit = _accounts.get(key)
    if hit is None:
        return None
    if hit[0] > time.monotonic() or key in _refreshing:
        return hit[1]
    _refreshing.add(key)
    return None


def lookup_account(session: Session, db_key: str, platform: str, slug: str) -> AccountRef:
    """The account from the database (404 if none), remembered for ACCOUNT_TTL_S."""
    key = (db_key, platform, slug)
    try:
        account = find_account(session, platform, slug)
        ref = AccountRef(account.id, account.brand_id, account.platform, account.slug, credentials(account))
        if len(_accounts) > 10_000:
            _accounts.clear()
        _accounts[key] = (time.monotonic() + ACCOUNT_TTL_S, ref)
        return ref
    except WebhookError:
        _accounts.pop(key, None)
        raise
    finally:
        _refreshing.discard(key)


def handshake(session: Session, platform: str, slug: str, params: dict[str, str]) -> Any:
    account = find_account(session, platform, slug)
    try:
        return get_connector(platform).handshake(params, credentials(account))
    except SignatureError as exc:
        raise WebhookError(403, f"handshake refused: {exc}") from exc
    except (PayloadError, ValueError) as exc:
        raise WebhookError(400, f"bad handshake request: {exc}") from exc


def prepare(account: AccountRef, body: bytes, headers: dict[str, str]) -> Delivery:
    """Check size and signature and parse; raises WebhookError for a delivery we refuse."""
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(413, f"payload is larger than {MAX_BODY_BYTES} bytes")
    connector = get_connector(account.platform)
    try:
        connector.verify_signature(body, {k.lower(): v for k, v in headers.items()}, account.credentials)
    except SignatureError as exc:
        raise WebhookError(401, f"signature check failed: {exc}") from exc
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookError(400, f"body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise WebhookError(400, "body must be a JSON object")
    try:
        parsed = connector.parse(payload, account.credentials)
    except PayloadError as exc:
        return Delivery(account, dead_letter_reason=str(exc), body=body)
    return Delivery(account, parsed.messages, parsed.statuses)


def store_deliveries(session: Session, deliveries: list[Delivery]) -> list[WebhookOutcome]:
    """Store prepared deliveries inside the caller's transaction; one outcome each, in order.

    The messages go through the BulkIngestor (the same threading and customer rules as the
    one-by-one Ingestor, written with one executemany per table), in arrival order, so a
    platform message delivered twice in one batch is stored once and counted a duplicate.
    """
    accounts = {d.account.id: d.account for d in deliveries}
    batches = [
        (account, [item for d in deliveries if d.account.id == account_id for item in d.messages])
        for account_id, account in accounts.items()
    ]
    total = sum(len(items) for _, items in batches)
    bulk = BulkIngestor(session, source="webhook", id_chunk=16)
    # Lock before reading, so the batch plans on the threads' committed state and no other
    # writer (another web process) changes them until our commit.
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # The locks and every lookup, in one round trip.
        bulk.prime_locked(list(accounts), batches, _ACCOUNT_LOCK_CLASS)  # type: ignore[arg-type]
    elif total:
        # SQLite: reserving ids takes the one write lock; unused ids cost nothing here.
        bulk.ids.reserve_ahead(
            {"message": total, "customer": total, "identity": total, "conversation": total,
             "conversation_event": 3 * total}
        )  # fmt: skip
    else:
        session.execute(text('UPDATE "message" SET id = id WHERE 0'))
    if not postgres:
        for account, items in batches:
            if items:
                bulk.prime(account, items)  # type: ignore[arg-type]  # an AccountRef has what it reads
    if postgres and total:
        bulk.reserve_ids(batches)  # type: ignore[arg-type]
    outcomes: list[WebhookOutcome] = []
    letters = []
    for delivery in deliveries:
        outcome = WebhookOutcome(IngestReport())
        outcomes.append(outcome)
        if delivery.dead_letter_reason is not None:
            letter = record_dead_letter(
                session,
                source="webhook",
                platform=delivery.account.platform,
                account_slug=delivery.account.slug,
                reason=delivery.dead_letter_reason,
                payload=delivery.body,
            )
            letters.append((outcome, letter))
            outcome.report.dead_letters += 1
            outcome.dead_letter_reason = delivery.dead_letter_reason
            continue
        for item in delivery.messages:
            bulk.store(delivery.account, item, outcome.report)  # type: ignore[arg-type]
    bulk.finish(IngestReport())
    # Statuses after the messages, so one can name a message stored earlier in the batch.
    for delivery, outcome in zip(deliveries, outcomes, strict=True):
        for status in delivery.statuses:
            if apply_status(session, delivery.account, status):  # type: ignore[arg-type]
                outcome.report.statuses += 1
    if letters:
        session.flush()
        for outcome, letter in letters:
            outcome.dead_letter_id = letter.id
    return outcomes


def receive(
    session: Session, platform: str, slug: str, body: bytes, headers: dict[str, str]
) -> WebhookOutcome:
    """Verify and store one webhook delivery inside the caller's transaction (no batching)."""
    account = find_account(session, platform, slug)
    ref = AccountRef(account.id, account.brand_id, account.platform, account.slug, credentials(account))
    return store_deliveries(session, [prepare(ref, body, headers)])[0]
