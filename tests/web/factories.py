"""Builders for the desk's tests: agents who can sign in, conversations with messages."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from socialdesk.auth.passwords import hash_password
from socialdesk.brands.models import Brand, SocialAccount
from socialdesk.conversations.models import Conversation, Message
from socialdesk.customers.models import Customer, Identity
from socialdesk.routing.models import Agent, Team

PASSWORD = "correct horse battery"
_ids = itertools.count(1)
# Hashing is deliberately slow; one hash serves every test agent.
_HASH: str | None = None


def password_hash() -> str:
    global _HASH
    if _HASH is None:
        _HASH = hash_password(PASSWORD)
    return _HASH


def agent(session: Session, role: str = "agent", *, name: str | None = None, **kw: Any) -> Agent:
    n = next(_ids)
    a = Agent(
        email=kw.pop("email", f"{role}{n}@example.com"),
        name=name or f"{role.title()} {n}",
        role=role,
        password_hash=password_hash(),
        availability=kw.pop("availability", "online"),
        **kw,
    )
    session.add(a)
    session.flush()
    return a


def team(session: Session, name: str = "Care", **kw: Any) -> Team:
    t = Team(slug=kw.pop("slug", f"{name.lower().replace(' ', '-')}-{next(_ids)}"), name=name, **kw)
    session.add(t)
    session.flush()
    return t


def brand_with_account(session: Session, platform: str = "x", **kw: Any) -> SocialAccount:
    n = next(_ids)
    b = Brand(slug=f"brand{n}", name=kw.pop("brand_name", f"Brand {n}"))
    a = SocialAccount(
        brand=b,
        platform=platform,
        slug=kw.pop("slug", f"{platform}-{n}"),
        app_secret=kw.pop("app_secret", "app-secret"),
        verify_token="verify-token",
        external_id=kw.pop("external_id", "999"),
        handle=kw.pop("handle", "AcmeCare"),
        **kw,
    )
    session.add_all([b, a])
    session.flush()
    return a


def conversation(
    session: Session,
    account: SocialAccount,
    text: str = "my order never arrived",
    *,
    customer_name: str = "Dana Miller",
    handle: str | None = None,
    at: datetime | None = None,
    **kw: Any,
) -> Conversation:
    n = next(_ids)
    at = at or datetime.now(UTC) - timedelta(minutes=5)
    customer = Customer(name=customer_name)
    session.add(customer)
    session.flush()
    session.add(
        Identity(
            customer_id=customer.id,
            platform=account.platform,
            external_user_id=f"u{n}",
            handle=handle or f"user{n}",
            display_name=customer_name,
        )
    )
    c = Conversation(
        brand_id=account.brand_id,
        account_id=account.id,
        platform=account.platform,
        thread_key=f"t{n}",
        customer_id=customer.id,
        subject=text[:200],
        first_message_at=at,
        last_message_at=at,
        last_inbound_at=at,
        message_count=1,
        **kw,
    )
    session.add(c)
    session.flush()
    session.add(
        Message(
            account_id=account.id,
            platform=account.platform,
            conversation_id=c.id,
            customer_id=customer.id,
            external_id=f"m{n}",
            thread_key=c.thread_key,
            author_external_id=f"u{n}",
            author_handle=handle or f"user{n}",
            author_name=customer_name,
            text=text,
            sent_at=at,
            received_at=at,
        )
    )
    session.flush()
    return c
