"""The pipeline step: route new and reopened conversations, keep SLA clocks, run automation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.conversations.models import ConversationEvent, Message
from socialdesk.routing.service import ROUTABLE_STATUSES, route
from socialdesk.routing.sla import apply_sla


def routing_step(session: Session, message: Message) -> None:
    """For each stored message, once: SLA clocks, then routing and automation events.

    Idempotent: a message that was processed before (``processed_at`` set in the same
    transaction as this step's changes) is skipped.
    """
    conversation = message.conversation
    if message.processed_at is not None or conversation is None:
        return
    from socialdesk.analytics.surveys import is_survey_reply
    from socialdesk.automation.engine import dispatch

    session.flush()
    created = reopened = False
    if message.direction == "inbound":
        first_inbound = session.scalar(
            select(Message.id)
            .where(Message.conversation_id == conversation.id, Message.direction == "inbound")
            .order_by(Message.sent_at, Message.id)
            .limit(1)
        )
        created = first_inbound == message.id
        reopened = not created and (
            session.scalar(
                select(ConversationEvent.id).where(
                    ConversationEvent.conversation_id == conversation.id,
                    ConversationEvent.kind == "reopened",
                    ConversationEvent.at == message.sent_at,
                )
            )
            is not None
        )
    if (created or reopened) and conversation.status in ROUTABLE_STATUSES:
        route(session, conversation)
    # The team may have changed: SLA business hours follow the team's calendar.
    apply_sla(session, conversation)
    if created:
        dispatch(session, "conversation_created", conversation, message=message)
    if reopened:
        dispatch(session, "conversation_reopened", conversation, message=message)
    # A CSAT survey answer (recorded as ``survey_reply``) is no new customer message for the rules.
    if message.direction == "inbound" and not is_survey_reply(session, message):
        dispatch(session, "message_created", conversation, message=message)
