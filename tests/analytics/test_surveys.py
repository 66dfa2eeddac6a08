"""CSAT surveys: sent once, in the customer's language, never during a crisis, answers parsed."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from socialdesk.analytics import surveys
from socialdesk.analytics.kpis import build_filters, csat
from socialdesk.analytics.models import CsatSurvey
from socialdesk.analytics.steps import analytics_step
from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.routing.models import Team
from tests import factories
from tests.analytics.factories import at, customer, timeline

RESOLVED = at("10:30")


def resolved(
    session, account, cust, *, language="de", text="Meine Bestellung ist nicht angekommen", when=None
):
    when = when or RESOLVED
    return timeline(
        session,
        account,
        [
            ("in", when - timedelta(minutes=30), "negative", text),
            ("out", when - timedelta(minutes=20)),
            ("status", when, "resolved"),
        ],
        customer_obj=cust,
        language=language,
    )


@pytest.fixture
def account(session):
    return factories.account(session, "telegram", brand_obj=factories.brand(session, "acme"))


def test_a_resolved_conversation_gets_one_survey_in_the_customers_language(session, account):
    conv = resolved(session, account, customer(session, locale="de-DE"))
    with time_machine.travel(RESOLVED + timedelta(minutes=1), tick=False):
        (survey,) = surveys.dispatch(session)
        assert surveys.dispatch(session) == []  # the second scan finds nothing new
        assert surveys.on_resolved(session, conv) is None  # and a direct call neither
    assert survey.status == "sent", survey.skip_reason
    assert (survey.language, survey.channel) == ("de", "private")
    assert survey.text.startswith("Danke für Ihre Nachricht!")
    assert "/survey/" in survey.text
    outbound = session.scalars(
        select(Message).where(Message.conversation_id == conv.id, Message.direction == "outbound")
    ).all()
    assert [m.text for m in outbound if m.text == survey.text] == [survey.text]  # handed to the outbox once


def test_language_falls_back_to_the_customer_locale_then_english(session, account):
    fr = resolved(session, account, customer(session, locale="fr-CA"), language="")
    xx = resolved(session, account, customer(session), language="sw")
    assert surveys.on_resolved(session, fr, RESOLVED).text.startswith("Merci")
    assert surveys.on_resolved(session, xx, RESOLVED).text.startswith("Thanks for talking to us!")


def test_public_conversations_get_a_short_link(session, account):
    x = factories.account(session, "x", brand_obj=factories.brand(session, "globex"))
    conv = timeline(
        session,
        x,
        [("in", at("10:00")), ("out", at("10:05")), ("status", RESOLVED, "resolved")],
        customer_obj=customer(session),
        visibility="public",
    )
    survey = surveys.on_resolved(session, conv, RESOLVED)
    assert survey.channel == "public"
    assert len(survey.text) <= 140
    assert survey.text.startswith("Thanks for reaching out!")


def test_at_most_one_survey_per_customer_per_period(session, account, monkeypatch):
    monkeypatch.setenv("SOCIALDESK_CSAT_PERIOD_DAYS", "30")
    from socialdesk.analytics.settings import get_analytics_settings

    get_analytics_settings.cache_clear()
    cust = customer(session)
    first = surveys.on_resolved(session, resolved(session, account, cust), RESOLVED)
    later = RESOLVED + timedelta(days=10)
    second = surveys.on_resolved(session, resolved(session, account, cust, when=later), later)
    much_later = RESOLVED + timedelta(days=31)
    third = surveys.on_resolved(session, resolved(session, account, cust, when=much_later), much_later)
    assert first.sent_at is not None
    assert (second.status, second.sent_at) == ("skipped", None)
    assert "already surveyed in the last 30 days" in second.skip_reason
    assert third.sent_at == much_later


def test_no_survey_while_a_crisis_holds_the_conversation(session, account):
    from socialdesk.listening.crisis import close, declare

    hit = resolved(session, account, customer(session), text="the mascara tube leaks everywhere")
    calm = resolved(session, account, customer(session), text="where is my parcel")
    # Declared while both were still open, so the crisis sweep takes in the matching one.
    for conv in (hit, calm):
        conv.status = "open"
    session.flush()
    session.add(Team(slug="crisis", name="Crisis team", is_crisis=True))
    session.flush()
    crisis = declare(session, name="Leaky mascara", actor="sup", query="mascara", brand_id=account.brand_id)
    for conv in (hit, calm):
        conv.status = "resolved"
    session.flush()
    held = surveys.on_resolved(session, hit, RESOLVED)
    assert (held.status, held.sent_at) == ("skipped", None)
    assert held.skip_reason.startswith("crisis")
    assert surveys.on_resolved(session, calm, RESOLVED).sent_at is not None
    close(session, crisis.id, "over", "sup")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", (5, "")),
        ("4 - quick and friendly", (4, "quick and friendly")),
        ("Rating: 2, took too long", (2, "took too long")),
        ("3/5 ok", (3, "ok")),
        ("5 Sterne, danke!", (5, "danke!")),
        ("⭐⭐⭐⭐ good", (4, "good")),
        ("1. Never again", (1, "Never again")),
        ("my order 12345 is late", None),
        ("2 items are missing from my order", None),
        ("4 great service", (4, "great service")),
        ("5 sehr freundlich", (5, "sehr freundlich")),
        ("3 days and still nothing", None),
        ("10 out of 10", None),
        ("2.5", None),
        ("thanks!", None),
    ],
)
def test_parse_answer(text, expected):
    assert surveys.parse_answer(text) == expected


def _reply(session, conv, text, when):
    msg = Message(
        account_id=conv.account_id,
        platform=conv.platform,
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        direction="inbound",
        external_id=f"reply-{when.timestamp()}",
        thread_key=conv.thread_key,
        text=text,
        sent_at=when,
        received_at=when,
    )
    session.add(msg)
    session.flush()
    return msg


def test_a_reply_with_a_rating_answers_the_survey_and_counts_in_csat(session, account):
    conv = resolved(session, account, customer(session, country="DE"))
    survey = surveys.on_resolved(session, conv, RESOLVED)
    chatter = _reply(session, conv, "one more thing about my order", RESOLVED + timedelta(minutes=5))
    analytics_step(session, chatter)
    assert survey.rating is None
    answer = _reply(session, conv, "4 - schnell und freundlich", RESOLVED + timedelta(minutes=6))
    analytics_step(session, answer)
    analytics_step(session, answer)  # redelivered: changes nothing
    assert (survey.rating, survey.comment, survey.answered_via) == (4, "schnell und freundlich", "reply")
    assert survey.answer_message_id == answer.id
    events = session.scalars(select(ConversationEvent).where(ConversationEvent.kind == "csat_answered")).all()
    assert [e.data["rating"] for e in events] == [4]
    figures = csat(session, build_filters(session), "country")
    assert figures["overall"]["answers"] == 1 and figures["overall"]["csat"] == 1.0
    assert figures["groups"][0]["key"] == "DE"


def test_survey_page_takes_one_answer_and_refuses_forged_or_expired_links(client, session, account):
    conv = resolved(session, account, customer(session, locale="es"), language="es")
    survey = surveys.on_resolved(session, conv, RESOLVED)
    token = surveys.token_for(survey)
    session.commit()
    page = client.get(f"/survey/{token}")
    assert page.status_code == 200 and "¿Qué tal lo hicimos?" in page.text
    assert client.post(f"/survey/{token}", data={"rating": "9"}).status_code == 422
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(f"/survey/{forged}").status_code == 400
    other_id = f"{survey.id + 1}." + token.split(".", 1)[1]
    assert client.post(f"/survey/{other_id}", data={"rating": "5"}).status_code == 400
    assert client.get("/survey/not-a-token").status_code == 400
    session.expire_all()
    assert session.get(CsatSurvey, survey.id).rating is None  # nothing changed by bad input
    done = client.post(f"/survey/{token}", data={"rating": "5", "comment": "¡genial!"})
    assert done.status_code == 200 and "¡Gracias por su opinión!" in done.text
    assert client.post(f"/survey/{token}", data={"rating": "1"}).status_code == 409
    session.expire_all()
    stored = session.get(CsatSurvey, survey.id)
    assert (stored.rating, stored.comment, stored.answered_via) == (5, "¡genial!", "page")
    assert [(h["rating"], h["via"]) for h in surveys.customer_history(session, conv.customer_id)] == [
        (5, "page")
    ]
    with time_machine.travel(stored.created_at + timedelta(days=8)):
        assert client.get(f"/survey/{token}").status_code == 410


def test_a_skipped_survey_has_no_usable_link(session, account):
    conv = resolved(session, account, None)  # no known customer
    survey = surveys.on_resolved(session, conv, RESOLVED)
    assert (survey.status, survey.skip_reason) == ("skipped", "no customer")
    with pytest.raises(surveys.SurveyError):
        surveys.survey_from_token(session, surveys.token_for(survey))
    assert session.get(Conversation, conv.id).status == "resolved"
