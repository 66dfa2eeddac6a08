"""Webhook ingestion: handshake, verify, parse, store durably, then acknowledge."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.brands.models import SocialAccount
from socialdesk.ingest.service import Ingestor, IngestReport, apply_status, record_dead_letter
from socialdesk.platforms.base import AccountCredentials, PayloadError, SignatureError
from socialdesk.platforms.registry import PLATFORMS, get_connector

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000


class WebhookError(Exception):
    """A request we refuse; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


def handshake(session: Session, platform: str, slug: str, params: dict[str, str]) -> Any:
    account = find_account(session, platform, slug)
    try:
        return get_connector(platform).handshake(params, credentials(account))
    except SignatureError as exc:
        raise WebhookError(403, f"handshake refused: {exc}") from exc
    except (PayloadError, ValueError) as exc:
        raise WebhookError(400, f"bad handshake request: {exc}") from exc


def receive(
    session: Session, platform: str, slug: str, body: bytes, headers: dict[str, str]
) -> WebhookOutcome:
    """Verify and store one webhook delivery inside the caller's transaction."""
    account = find_account(session, platform, slug)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(413, f"payload is larger than {MAX_BODY_BYTES} bytes")
    connector = get_connector(platform)
    creds = credentials(account)
    try:
        connector.verify_signature(body, {k.lower(): v for k, v in headers.items()}, creds)
    except SignatureError as exc:
        raise WebhookError(401, f"signature check failed: {exc}") from exc
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookError(400, f"body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise WebhookError(400, "body must be a JSON object")

    report = IngestReport()
    try:
        parsed = connector.parse(payload, creds)
    except PayloadError as exc:
        letter = record_dead_letter(
            session,
            source="webhook",
            platform=platform,
            account_slug=slug,
            reason=str(exc),
            payload=body,
        )
        session.flush()
        report.dead_letters += 1
        return WebhookOutcome(report, letter.id, str(exc))

    ingestor = Ingestor(session)
    ingestor.prime(account, parsed.messages)
    for item in parsed.messages:
        ingestor.store(account, item, report)
    for status in parsed.statuses:
        if apply_status(session, account, status):
            report.statuses += 1
    ingestor.finish(report)
    return WebhookOutcome(report)
