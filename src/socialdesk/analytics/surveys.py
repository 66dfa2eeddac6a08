"""CSAT surveys: one after each resolution, on the same channel, in the customer's language.

A survey is skipped (and the skip recorded, with why) when the conversation has no customer,
the customer had a survey within the configured period, or a crisis on the conversation's
topic pauses automation. Answers come back as a reply ("4 quick and friendly") or through
the survey page, whose link carries a signed, expiring token.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.analytics.models import CsatSurvey
from socialdesk.analytics.settings import get_analytics_settings
from socialdesk.config import get_settings
from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.customers.models import Customer
from socialdesk.db.base import utcnow

TEMPLATES_FILE = Path(__file__).parent / "data" / "survey_templates.json"
SALT = "socialdesk.csat"
# "4", "4/5", "4 stars", "Rating: 4 - great", "⭐⭐⭐⭐ thanks": a rating first, then the comment.
# A comment must be set off ("4 - great", "4/5 great"): "2 items are missing" is no rating.
_RATING = re.compile(
    r"^\s*(?P<prefix>(?:rating|note|bewertung|nota|voto|cijfer)\s*[:=]?\s*)?([1-5])"
    r"(?P<suffix>\s*(?:/|von|sur|de|di|out of)\s*5)?"
    r"(?P<unit>\s*(?:stars?|sterne?|étoiles?|estrellas?|stelle|estrelas?))?"
    r"(?!\d)(?![.,]\d)(?P<sep>\s*[-–—:,.!)]+)?\s*(?P<comment>.*)$",
    re.IGNORECASE | re.DOTALL,
)
# Words that open a verdict on the service, in the survey languages (a rating's comment).
_VERDICT_TEXT = """great good very excellent perfect fine ok okay nice quick fast slow friendly helpful thanks
    thank awesome amazing bad poor terrible awful horrible average decent super lovely
    gut sehr toll schnell langsam schlecht danke prima freundlich super
    bien très bon excellent rapide lent mauvais merci parfait génial nul
    bueno buena muy excelente rápido lento malo mala gracias perfecto genial
    bom boa muito ótimo ótima rápido lento ruim obrigado obrigada perfeito
    buono buona molto ottimo ottima veloce lento cattivo grazie perfetto
    goed zeer snel traag slecht bedankt prima"""
_VERDICT_WORDS = frozenset(_VERDICT_TEXT.split())
_STARS = re.compile(r"^\s*([⭐★]{1,5})\s*[-–—:,.!]*\s*(?P<comment>.*)$", re.DOTALL)


class SurveyError(ValueError):
    """A survey link or answer that cannot be accepted; ``status`` is the HTTP status to show."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@lru_cache
def templates() -> dict[str, dict[str, str]]:
    data = json.loads(TEMPLATES_FILE.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def language_for(conversation: Conversation, customer: Customer | None) -> str:
    """The conversation's language, else the customer's locale, when we have texts for it; else English."""
    for candidate in (conversation.language, (customer.locale if customer else "") or ""):
        code = candidate.split("-")[0].split("_")[0].lower()
        if code in templates():
            return code
    return "en"


def texts_for(language: str) -> dict[str, str]:
    return {**templates()["en"], **templates().get(language, {})}


def _signer() -> TimestampSigner:
    return TimestampSigner(get_settings().secret_key, salt=SALT)


def token_for(survey: CsatSurvey) -> str:
    return _signer().sign(str(survey.id)).decode()


def link_for(survey: CsatSurvey) -> str:
    return f"{get_settings().base_url.rstrip('/')}/survey/{token_for(survey)}"


def survey_from_token(session: Session, token: str) -> CsatSurvey:
    """The survey a link is for; forged, tampered or expired links are refused."""
    max_age = get_analytics_settings().csat_answer_days * 86400
    try:
        raw = _signer().unsign(token, max_age=max_age)
    except SignatureExpired as exc:
        raise SurveyError("this survey link has expired", 410) from exc
    except BadSignature as exc:
        raise SurveyError("this survey link is not valid", 400) from exc
    survey = session.get(CsatSurvey, int(raw)) if raw.isdigit() else None
    if survey is None or survey.status == "skipped":
        raise SurveyError("this survey link is not valid", 400)
    return survey


def _crisis_paused(session: Session, conversation: Conversation) -> bool:
    try:
        from socialdesk.listening.crisis import automation_paused
    except ImportError:  # no listening domain: never paused
        return False
    return bool(automation_paused(session, conversation))


def on_resolved(
    session: Session, conversation: Conversation, now: datetime | None = None
) -> CsatSurvey | None:
    """Survey the customer of a just-resolved conversation (once per conversation); returns the record."""
    now = now or utcnow()
    if session.scalar(select(CsatSurvey).where(CsatSurvey.conversation_id == conversation.id)) is not None:
        return None
    customer = session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    survey = CsatSurvey(
        conversation_id=conversation.id, customer_id=conversation.customer_id, status="skipped"
    )
    session.add(survey)
    survey.language = language_for(conversation, customer)
    survey.channel = "private" if conversation.visibility in ("private", "mixed") else "public"
    if customer is None:
        survey.skip_reason = "no customer"
    elif _crisis_paused(session, conversation):
        survey.skip_reason = "crisis: automation paused on this topic"
    elif _recently_surveyed(session, customer.id, now):
        days = get_analytics_settings().csat_period_days
        survey.skip_reason = f"customer already surveyed in the last {days} days"
    else:
        session.flush()  # the id signs the link
        text = texts_for(survey.language)[survey.channel].format(link=link_for(survey))
        survey.text, survey.sent_at, survey.status = text, now, "recorded"
        _send(session, conversation, survey, now)
    session.flush()
    return survey


def _recently_surveyed(session: Session, customer_id: int, now: datetime) -> bool:
    since = now - timedelta(days=get_analytics_settings().csat_period_days)
    return (
        session.scalar(
            select(CsatSurvey.id)
            .where(CsatSurvey.customer_id == customer_id, CsatSurvey.sent_at >= since)
            .limit(1)
        )
        is not None
    )


def _send(session: Session, conversation: Conversation, survey: CsatSurvey, now: datetime) -> None:
    """Hand the survey to the outbox; without one (or when it refuses) it stays recorded for sending."""
    try:
        from socialdesk.outbox.service import ReplyError, queue_reply
    except ImportError:
        return
    try:
        with session.begin_nested():
            queue_reply(
                session,
                conversation,
                survey.text,
                actor=None,
                public=survey.channel == "public",
                automatic=True,
                now=now,
            )
    except ReplyError as exc:
        survey.skip_reason = f"not sent: {exc}"[:200]
        return
    survey.status = "sent"


def dispatch(session: Session, now: datetime | None = None) -> list[CsatSurvey]:
    """Survey every recently resolved conversation that has no survey yet (run by the scheduler loop)."""
    now = now or utcnow()
    since = now - timedelta(hours=get_analytics_settings().csat_lookback_hours)
    rows = session.scalars(
        select(Conversation)
        .outerjoin(CsatSurvey, CsatSurvey.conversation_id == Conversation.id)
        .where(Conversation.status == "resolved", Conversation.resolved_at >= since, CsatSurvey.id.is_(None))
        .order_by(Conversation.resolved_at, Conversation.id)
    ).all()
    return [s for c in rows if (s := on_resolved(session, c, now)) is not None]


def parse_answer(text: str) -> tuple[int, str] | None:
    """(rating, comment) from a customer's reply, or None when the reply is not a rating."""
    m = _STARS.match(text or "")
    if m:
        return len(m.group(1)), m.group("comment").strip()
    m = _RATING.match(text or "")
    if m is None:
        return None
    comment = m.group("comment").strip()
    if comment and not any(m.group(g) for g in ("prefix", "suffix", "unit", "sep")):
        # "4 great service" rates; "2 items are missing" counts: without punctuation the
        # comment must open with a word that judges the service.
        first = re.split(r"[\s,.!?]+", comment.lower(), maxsplit=1)[0]
        if first not in _VERDICT_WORDS:
            return None
    return int(m.group(2)), comment


def answer(
    session: Session,
    survey: CsatSurvey,
    rating: Any,
    comment: str = "",
    *,
    via: str,
    at: datetime | None = None,
    message_id: int | None = None,
) -> CsatSurvey:
    """Record an answer; a survey is answered once, with a rating from 1 to 5."""
    try:
        value = int(rating)
    except (TypeError, ValueError) as exc:
        raise SurveyError("the rating must be a whole number from 1 to 5", 422) from exc
    if not 1 <= value <= 5:
        raise SurveyError("the rating must be a whole number from 1 to 5", 422)
    if survey.status == "skipped" or survey.sent_at is None:
        raise SurveyError("this survey was never sent", 400)
    if survey.rating is not None:
        raise SurveyError("this survey has already been answered", 409)
    at = at or utcnow()
    survey.rating, survey.comment = value, (comment or "").strip()[:2000]
    survey.answered_at, survey.answered_via, survey.answer_message_id = at, via, message_id
    survey.status = "answered"
    session.add(
        ConversationEvent(
            conversation_id=survey.conversation_id,
            kind="csat_answered",
            at=at,
            data={"rating": value, "via": via},
        )
    )
    session.flush()
    return survey


def _open_survey(session: Session, customer_id: int, at: datetime) -> CsatSurvey | None:
    """The customer's latest survey still waiting for an answer at ``at`` (inside its window)."""
    window = timedelta(days=get_analytics_settings().csat_answer_days)
    return session.scalar(
        select(CsatSurvey)
        .where(
            CsatSurvey.customer_id == customer_id,
            CsatSurvey.status.in_(("sent", "recorded")),
            CsatSurvey.sent_at <= at,
            CsatSurvey.sent_at >= at - window,
        )
        .order_by(CsatSurvey.sent_at.desc())
        .limit(1)
    )


def is_survey_answer(
    session: Session, conversation: Any, customer_id: int | None, text: str, at: datetime
) -> bool:
    """Threading asks this before a customer message reopens a finished conversation.

    ``conversation`` is the ORM row or the batch writer's lighter row (``status`` and ``id``).
    True when the message reads as a rating and the customer's open survey (inside its answer
    window) is this conversation's: the message is then an answer, not a new request, so it
    joins the conversation without reopening it (``threading.record_message(survey_answer=True)``)
    and the pipeline step records the answer.
    """
    if conversation is None or customer_id is None or conversation.status not in ("resolved", "closed"):
        return False
    if parse_answer(text) is None:  # cheap test first: most messages are not ratings
        return False
    survey = _open_survey(session, customer_id, at)
    return survey is not None and survey.conversation_id == conversation.id


def answer_from_reply(session: Session, message: Message) -> CsatSurvey | None:
    """Pipeline step: a customer's reply that rates an open survey answers it."""
    if message.direction != "inbound" or message.customer_id is None:
        return None
    parsed = parse_answer(message.text)
    if parsed is None:
        return None
    survey = _open_survey(session, message.customer_id, message.sent_at)
    if survey is None:
        return None
    return answer(
        session, survey, parsed[0], parsed[1], via="reply", at=message.sent_at, message_id=message.id
    )


def customer_history(session: Session, customer_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """A customer's past survey answers, newest first (for the customer panel)."""
    rows = session.scalars(
        select(CsatSurvey)
        .where(CsatSurvey.customer_id == customer_id, CsatSurvey.rating.is_not(None))
        .order_by(CsatSurvey.answered_at.desc())
        .limit(limit)
    ).all()
    return [
        {
            "conversation_id": s.conversation_id,
            "rating": s.rating,
            "comment": s.comment,
            "answered_at": s.answered_at,
            "via": s.answered_via,
        }
        for s in rows
    ]


def survey_reply_keys(session: Session, conversation_ids: Any = None) -> set[tuple[int, str]]:
    """(conversation id, message external id) of every customer message recorded as a survey answer.

    Threading records such a message as a ``survey_reply`` event naming the message's
    ``external_id``; these messages are answers, not requests, so they carry no side effect of
    a customer message (no automation, no conversation sentiment, no sentiment shift).
    """
    stmt = select(ConversationEvent.conversation_id, ConversationEvent.data).where(
        ConversationEvent.kind == "survey_reply"
    )
    if conversation_ids is not None:
        stmt = stmt.where(ConversationEvent.conversation_id.in_(list(conversation_ids)))
    return {(cid, str((data or {}).get("external_id", ""))) for cid, data in session.execute(stmt)}


def is_survey_reply(session: Session, message: Message) -> bool:
    """Whether this stored customer message was recorded as a survey answer (``survey_reply``)."""
    if message.direction != "inbound" or message.conversation_id is None:
        return False
    # Three pipeline steps ask about the same message in one transaction; the answer is fixed
    # once threading has recorded the message, so it is asked of the database once.
    known: dict[int, bool] = session.info.setdefault("survey_reply", {})
    if message.id is not None and message.id in known:
        return known[message.id]
    session.flush()  # the batch writer's events may still be pending in this session
    found = any(
        (data or {}).get("external_id") == message.external_id
        for data in session.scalars(
            select(ConversationEvent.data).where(
                ConversationEvent.conversation_id == message.conversation_id,
                ConversationEvent.kind == "survey_reply",
            )
        )
    )
    if message.id is not None:
        known[message.id] = found
    return found
