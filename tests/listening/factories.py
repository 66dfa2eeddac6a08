"""Builders for listening tests: stored messages run through the listening step."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from socialdesk.brands.models import SocialAccount
from socialdesk.conversations.models import Message
from socialdesk.ingest.service import Ingestor, IngestReport
from socialdesk.listening.models import SeriesCount
from socialdesk.listening.service import listening_step
from tests import factories

_ids = itertools.count(1)


def message(
    session: Session,
    account: SocialAccount,
    text: str,
    at: datetime,
    *,
    sentiment: str = "",
    issue: str = "",
    author: str | None = None,
    mention: bool = False,
    run_step: bool = True,
) -> Message:
    """Store one inbound message (a conversation message, or a listening mention) and listen to it."""
    n = next(_ids)
    item = factories.inbound(
        f"m{n}", text=text, sent_at=at, author_id=author or f"user{n}", addressed_to_brand=not mention
    )
    ingestor = Ingestor(session)
    ingestor.prime(account, [item])
    stored = ingestor.store(account, item, IngestReport())
    ingestor.finish(IngestReport())
    session.flush()
    assert stored is not None
    stored.sentiment, stored.issue_type = sentiment, issue
    if run_step:
        listening_step(session, stored)
    return stored


def seed_counts(session: Session, series: str, start: datetime, minutes: int, per_minute: int) -> None:
    """Counter history (what weeks of earlier messages would have left behind)."""
    from datetime import timedelta

    for m in range(minutes):
        session.add(SeriesCount(series=series, bucket=start + timedelta(minutes=m), count=per_minute))
    session.flush()


def established(session: Session, account: SocialAccount, now: datetime) -> None:
    """Give the account's brand two hours of history (120 messages), past spike detection's warm-up."""
    seed_counts(session, f"brand:{account.brand_id}:all", now - timedelta(hours=2), 120, 1)
