"""Builders for agents, teams, conversations with history, and role tokens."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from socialdesk.auth.service import create_token
from socialdesk.brands.models import Brand
from socialdesk.conversations.models import Conversation, ConversationEvent
from socialdesk.customers.models import Customer
from socialdesk.routing.models import Agent, Team
from tests import factories

_ids = itertools.count(1)
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday


def agent(session: Session, name: str | None = None, *, teams: list[Team] | None = None, **kw: Any) -> Agent:
    n = next(_ids)
    a = Agent(
        email=kw.pop("email", f"agent{n}@example.com"),
        name=name or f"Agent {n}",
        role=kw.pop("role", "agent"),
        languages=kw.pop("languages", []),
        platforms=kw.pop("platforms", []),
        capacity=kw.pop("capacity", 10),
        availability=kw.pop("availability", "online"),
        active=kw.pop("active", True),
        **kw,
    )
    a.teams = teams or []
    session.add(a)
    session.flush()
    return a


def team(session: Session, slug: str | None = None, **kw: Any) -> Team:
    t = Team(
        slug=slug or f"team{next(_ids)}",
        name=kw.pop("name", "Team"),
        languages=kw.pop("languages", []),
        platforms=kw.pop("platforms", []),
        timezone=kw.pop("timezone", "UTC"),
        is_senior=kw.pop("is_senior", False),
        is_crisis=kw.pop("is_crisis", False),
        **kw,
    )
    session.add(t)
    session.flush()
    return t


_brand_cache: dict[int, Brand] = {}


def conversation(
    session: Session,
    *,
    brand: Brand | None = None,
    platform: str = "x",
    language: str = "en",
    status: str = "open",
    priority: str = "normal",
    urgency: int = 0,
    vip: bool = False,
    at: datetime = T0,
    **kw: Any,
) -> Conversation:
    """A conversation whose history starts with a customer message at ``at``."""
    account = (
        factories.account(session, platform, brand_obj=brand)
        if brand
        else factories.account(session, platform)
    )
    customer = Customer(name="Kim Doe", vip=vip, followers=kw.pop("followers", 0), tags=kw.pop("tags", []))
    c = Conversation(
        brand_id=account.brand_id,
        account_id=account.id,
        platform=platform,
        thread_key=f"th{next(_ids)}",
        status=status,
        priority=priority,
        urgency=urgency,
        language=language,
        first_message_at=at,
        last_message_at=at,
        last_inbound_at=at,
        customer=customer,
        **kw,
    )
    session.add_all([customer, c])
    session.flush()
    event(session, c, "created", at)
    event(session, c, "message_in", at)
    return c


def event(session: Session, c: Conversation, kind: str, at: datetime, **data: Any) -> ConversationEvent:
    e = ConversationEvent(conversation_id=c.id, kind=kind, at=at, data=data)
    session.add(e)
    session.flush()
    return e


def token(session: Session, role: str, agent_obj: Agent | None = None) -> dict[str, str]:
    """Authorization headers for a token of ``role`` (bound to ``agent_obj`` when given)."""
    value = create_token(
        session, f"{role}-{next(_ids)}", role=role, agent_id=agent_obj.id if agent_obj else None
    )
    return {"Authorization": f"Bearer {value}"}
