"""The analytics pipeline step: keep sentiment-shift current and read survey answers from replies."""

from __future__ import annotations

from sqlalchemy.orm import Session

from socialdesk.analytics.rollup import record_sentiment
from socialdesk.analytics.surveys import answer_from_reply
from socialdesk.conversations.models import Message


def analytics_step(session: Session, message: Message) -> None:
    """Idempotent: the sentiment merge is order-free and a survey is answered once."""
    if message.direction != "inbound":
        return
    record_sentiment(session, message)
    if message.kind == "message":
        answer_from_reply(session, message)
