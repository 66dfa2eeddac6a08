"""A customer's rating reply to a CSAT survey is an answer: it neither reopens nor starts a conversation.

Messages go through the real ingestion (the one-by-one Ingestor and the batch writer the
webhooks and file imports use) and the real pipeline, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from socialdesk.analytics import surveys
from socialdesk.analytics.kpis import build_filters, csat, resolution_times
from socialdesk.analytics.models import ConversationFacts, CsatSurvey
from socialdesk.analytics.rollup import refresh
from socialdesk.conversations.actions import change_status
from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.ingest.bulk import BulkIngestor
from socialdesk.ingest.service import Ingestor, IngestReport
from socialdesk.pipeline import process_message
from tests import factories
from tests.analytics.factories import at

T0 = at("09:00")


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


@pytest.fixture(params=["ingestor", "bulk"])
def deliver(request, session):
    """Store one normalized item through an ingestion path, then run the pipeline on it."""

    def run(account, item) -> Message:
        report = IngestReport()
        ingestor = Ingestor(session) if request.param == "ingestor" else BulkIngestor(session)
        ingestor.prime(account, [item])
        ingestor.store(account, item, report)
        ingestor.finish(report)
        session.commit()
        (message_id,) = report.message_ids
        process_message(session, message_id)
        session.commit()
        return session.get(Message, message_id)

    return run


def _surveyed(session, deliver, account, author: str) -> tuple[Conversation, CsatSurvey]:
    """A DM conversation, answered and resolved at 10:00, with its survey sent."""
    item = factories.inbound(
        thread_key=f"dm-{author}", author_id=author, text="my parcel is late", sent_at=T0, is_public=False
    )
    conv = deliver(account, item).conversation
    change_status(session, conv, "resolved", actor=None, now=at("10:00"))
    survey = surveys.on_resolved(session, conv, at("10:00"))
    session.commit()
    assert survey is not None and survey.sent_at is not None, survey and survey.skip_reason
    return conv, survey


def _kinds(session, conv) -> list[str]:
    return list(
        session.scalars(
            select(ConversationEvent.kind)
            .where(ConversationEvent.conversation_id == conv.id)
            .order_by(ConversationEvent.at, ConversationEvent.id)
        )
    )


def _threads(session, author: str) -> int:
    return session.scalar(select(func.count()).where(Conversation.thread_key == f"dm-{author}"))


@pytest.fixture
def account(session):
    account = factories.account(session, "x", brand_obj=factories.brand(session, "acme"))
    session.commit()
    return account


def test_a_rating_reply_answers_the_survey_without_reopening(session, deliver, account):
    conv, survey = _surveyed(session, deliver, account, "u1")
    reply = factories.inbound(
        thread_key="dm-u1", author_id="u1", text="4 great service", sent_at=at("11:00"), is_public=False
    )
    message = deliver(account, reply)
    session.refresh(conv)
    session.refresh(survey)
    assert message.conversation_id == conv.id
    assert (conv.status, conv.resolved_at) == ("resolved", at("10:00"))
    assert "reopened" not in _kinds(session, conv) and "survey_reply" in _kinds(session, conv)
    assert (survey.status, survey.rating, survey.comment) == ("answered", 4, "great service")
    assert survey.answer_message_id == message.id
    # The KPIs see one resolution, no reopen, and the answer.
    refresh(session)
    f = build_filters(session)
    assert session.get(ConversationFacts, conv.id).reopen_count == 0
    assert resolution_times(session, f)["overall"]["count"] == 1
    assert csat(session, f)["overall"]["answers"] == 1


def test_after_the_reopen_window_an_answer_still_starts_no_new_conversation(session, deliver, account):
    conv, survey = _surveyed(session, deliver, account, "u2")
    late = at("10:00") + timedelta(days=5)  # reopen window 72 h; answer window 7 days
    deliver(account, factories.inbound(thread_key="dm-u2", author_id="u2", text="5", sent_at=late))
    session.refresh(survey)
    assert survey.rating == 5 and _threads(session, "u2") == 1
    assert session.get(Conversation, conv.id).status == "resolved"


def test_messages_that_are_no_answer_still_reopen_or_start_a_conversation(session, deliver, account):
    conv, survey = _surveyed(session, deliver, account, "u3")
    # Not a rating ("2 items" is a count): a new request, so the conversation reopens.
    deliver(
        account,
        factories.inbound(
            thread_key="dm-u3", author_id="u3", text="2 items are missing", sent_at=at("11:00")
        ),
    )
    session.refresh(conv)
    assert conv.status == "open" and "reopened" in _kinds(session, conv)
    assert session.get(CsatSurvey, survey.id).rating is None

    conv4, survey4 = _surveyed(session, deliver, account, "u4")
    # Past the survey's answer window a "5" is a new message like any other.
    expired = at("10:00") + timedelta(days=8)
    deliver(account, factories.inbound(thread_key="dm-u4", author_id="u4", text="5", sent_at=expired))
    assert _threads(session, "u4") == 2 and session.get(CsatSurvey, survey4.id).rating is None


def test_a_survey_answer_has_none_of_a_customer_messages_side_effects(session, deliver, account):
    """No "message created" automation, no sentiment copied onto the conversation, no sentiment shift."""
    from socialdesk.analytics.kpis import sentiment_shift
    from socialdesk.analytics.models import ConversationSentiment
    from socialdesk.analytics.reference import gather_parts_from_events
    from socialdesk.automation.models import AutomationRule, AutomationRun

    rule = AutomationRule(name="every customer message", event="message_created", conditions={}, actions=[])
    session.add(rule)
    session.commit()
    conv, survey = _surveyed(session, deliver, account, "u5")
    runs = select(func.count()).select_from(AutomationRun).where(AutomationRun.rule_id == rule.id)
    assert session.scalar(runs) == 1  # the customer's message fired the rule
    session.refresh(conv)
    first = session.scalars(
        select(Message).where(Message.conversation_id == conv.id, Message.direction == "inbound")
    ).one()
    assert first.sentiment and conv.sentiment == first.sentiment
    text = "5 great service, thank you so much, I love it!"
    answer = deliver(
        account, factories.inbound(thread_key="dm-u5", author_id="u5", text=text, sent_at=at("11:00"))
    )
    session.refresh(survey)
    assert survey.rating == 5 and survey.answer_message_id == answer.id
    assert surveys.is_survey_reply(session, answer) and not surveys.is_survey_reply(session, first)
    # Triage still labels the answer itself, differently from the request (so copying would show).
    assert answer.sentiment and answer.sentiment != first.sentiment
    assert session.scalar(runs) == 1  # but no "message created" rule fired on it
    session.refresh(conv)
    assert conv.sentiment == first.sentiment
    # The sentiment shift reads customer messages only: one here, so no shift, on the rollup
    # (as the pipeline keeps it and as rebuilt from the events) and on the reference path.
    row = session.get(ConversationSentiment, conv.id)
    assert (row.first_sentiment, row.last_sentiment, row.last_at) == (first.sentiment, first.sentiment, T0)
    refresh(session)
    from socialdesk.analytics.rollup import recompute

    recompute(session, [conv.id])
    session.refresh(row)
    assert (row.first_sentiment, row.last_sentiment, row.last_at) == (first.sentiment, first.sentiment, T0)
    f = build_filters(session)
    assert sentiment_shift(session, f)["overall"]["conversations"] == 0
    assert gather_parts_from_events(session, f, at("12:00")).shifts == []
