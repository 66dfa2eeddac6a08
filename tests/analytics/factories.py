"""Conversation timelines for KPI tests: each step at an exact instant."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from socialdesk.brands.models import SocialAccount
from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.conversations.threading import add_message
from socialdesk.customers.models import Customer

_ids = itertools.count(1)


def at(hhmm: str, day: int = 2, month: int = 11) -> datetime:
    """An instant in November 2026 (2 Nov is a Monday), UTC: at("09:12:30")."""
    parts = [int(p) for p in hhmm.split(":")]
    return datetime(2026, month, day, parts[0], parts[1], parts[2] if len(parts) > 2 else 0, tzinfo=UTC)


def customer(session: Session, *, country: str = "", locale: str = "", name: str = "") -> Customer:
    c = Customer(name=name or f"Customer {next(_ids)}", country=country, locale=locale)
    session.add(c)
    session.flush()
    return c


def timeline(
    session: Session,
    account: SocialAccount,
    steps: list[tuple[Any, ...]],
    *,
    customer_obj: Customer | None = None,
    language: str = "en",
    visibility: str = "private",
    **conversation_fields: Any,
) -> Conversation:
    """Build a conversation from steps:
    ("in", instant, sentiment?, text?), ("out", instant, agent_id?), ("status", instant, to),
    ("reopened", instant), ("assigned", instant, agent_id), ("sla_breach", instant, target).
    """
    n = next(_ids)
    first = steps[0][1]
    conv = Conversation(
        brand_id=account.brand_id,
        account_id=account.id,
        platform=account.platform,
        thread_key=f"thread-{n}",
        customer=customer_obj,
        language=language,
        visibility=visibility,
        first_message_at=first,
        last_message_at=first,
        **conversation_fields,
    )
    session.add(conv)
    session.add(ConversationEvent(conversation=conv, kind="created", at=first))
    for step in steps:
        kind, when = step[0], step[1]
        if kind in ("in", "out"):
            msg = Message(
                account_id=account.id,
                platform=account.platform,
                direction="inbound" if kind == "in" else "outbound",
                external_id=f"m-{n}-{next(_ids)}",
                thread_key=conv.thread_key,
                text=step[3] if kind == "in" and len(step) > 3 else "hello",
                is_public=visibility == "public",
                sent_at=when,
                received_at=when,
                customer=customer_obj if kind == "in" else None,
                sentiment=step[2] if kind == "in" and len(step) > 2 else "",
                sent_by_agent_id=step[2] if kind == "out" and len(step) > 2 else None,
            )
            session.add(msg)
            for event in add_message(conv, msg):
                if kind == "out" and len(step) > 2:
                    event.actor_agent_id = step[2]
                session.add(event)
        elif kind == "status":
            session.add(
                ConversationEvent(
                    conversation=conv,
                    kind="status_changed",
                    at=when,
                    data={"from": conv.status, "to": step[2]},
                )
            )
            conv.status = step[2]
            if step[2] == "resolved":
                conv.resolved_at = when
        elif kind == "reopened":
            session.add(ConversationEvent(conversation=conv, kind="reopened", at=when))
        elif kind == "assigned":
            conv.assignee_id = step[2]
            session.add(
                ConversationEvent(conversation=conv, kind="assigned", at=when, data={"agent_id": step[2]})
            )
        elif kind == "sla_breach":
            session.add(
                ConversationEvent(conversation=conv, kind="sla_breach", at=when, data={"target": step[2]})
            )
        else:  # pragma: no cover - a typo in a test
            raise ValueError(kind)
    session.flush()
    return conv
