"""What a worker does with each stored message, step by step.

The ingest side stores, threads and identifies (durably, before the platform gets its 200);
the worker side runs the steps below on every new message id it takes from the queue.
Each step must be idempotent: a redelivered message passes through them again and must
change nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.analytics.steps import analytics_step
from socialdesk.analytics.surveys import is_survey_reply
from socialdesk.config import get_settings
from socialdesk.conversations.actions import wake_on_customer_message_step
from socialdesk.conversations.models import Message
from socialdesk.db.base import utcnow
from socialdesk.listening.service import listening_step
from socialdesk.routing.pipeline import routing_step

log = logging.getLogger(__name__)

Step = Callable[[Session, Message], None]


def triage_step(session: Session, message: Message) -> None:
    """Language, sentiment, issue type and urgency onto the message and its conversation."""
    if message.triage is not None or message.direction != "inbound":
        return
    from socialdesk.triage import TriageContext, triage

    context = TriageContext(
        lang_hint=message.language or None,
        author_followers=message.customer.followers if message.customer else 0,
        recent_contacts=_recent_contacts(session, message),
        is_public=message.is_public,
    )
    result = triage(message.text, context, tier=get_settings().triage_tier).to_dict()
    message.triage = result
    message.language = result["language"]["code"] or message.language
    message.sentiment = result["sentiment"]["label"]
    message.issue_type = result["issue_type"]["label"]
    message.urgency = int(result["urgency"]["score"])
    conversation = message.conversation
    # A CSAT survey answer is no customer message: its sentiment is not copied onto the conversation.
    if conversation is not None and not is_survey_reply(session, message):
        if not conversation.language:
            conversation.language = message.language
        conversation.sentiment = message.sentiment
        conversation.issue_type = message.issue_type
        conversation.urgency = max(conversation.urgency or 0, message.urgency)


def _recent_contacts(session: Session, message: Message) -> int:
    """Messages this customer sent in the 24 hours before this one (repeated contact)."""
    if message.customer_id is None:
        return 0
    since = message.sent_at - timedelta(hours=24)
    return (
        session.scalar(
            select(func.count(Message.id)).where(
                Message.customer_id == message.customer_id,
                Message.direction == "inbound",
                Message.sent_at >= since,
                Message.sent_at < message.sent_at,
            )
        )
        or 0
    )


# Domains insert their steps here, in the order the architecture gives:
# triage → listening → routing/automation/SLA. The live update is sent by the worker
# after the commit, so a browser that re-fetches sees the final state.
STEPS: list[Step] = [triage_step, listening_step, wake_on_customer_message_step, routing_step, analytics_step]


def process_message(session: Session, message_id: int) -> dict[str, Any] | None:
    """Run every step on one message; returns its live-update summary, None if it is gone."""
    message = session.get(Message, message_id)
    if message is None:
        return None
    for step in STEPS:
        step(session, message)
    if message.processed_at is None:
        message.processed_at = utcnow()
    return {
        "message_id": message.id,
        "conversation_id": message.conversation_id,
        "platform": message.platform,
        "direction": message.direction,
        "message_kind": message.kind,
    }
