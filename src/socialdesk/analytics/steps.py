"""The analytics pipeline step: sentiment shift, survey answers from replies, brand posts' counts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from socialdesk.analytics.engagement import record_from_message
from socialdesk.analytics.rollup import record_sentiment
from socialdesk.analytics.surveys import answer_from_reply, is_survey_reply
from socialdesk.conversations.models import Message


def analytics_step(session: Session, message: Message) -> None:
    """Idempotent: the sentiment merge is order-free, a survey is answered once, counts are set."""
    if message.direction == "outbound":
        record_from_message(session, message)  # a brand post's payload may carry its counts
        return
    if message.direction != "inbound":
        return
    # A survey answer is no customer message: its sentiment is not the conversation's (CSAT has it).
    if not is_survey_reply(session, message):
        record_sentiment(session, message)
    if message.kind == "message":
        answer_from_reply(session, message)
