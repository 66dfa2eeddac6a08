"""Builders for conversations with real stored messages, agents, principals and API tokens."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal, create_token
from socialdesk.brands.models import SocialAccount
from socialdesk.conversations.models import Conversation, Message
from socialdesk.db.base import utcnow
from socialdesk.ingest.service import Ingestor, IngestReport
from socialdesk.routing.models import Agent
from tests import factories

_n = itertools.count(1)
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def store(session: Session, account: SocialAccount, item) -> Message:
    """Store one inbound item the way ingestion does and return its message."""
    report = IngestReport()
    ingestor = Ingestor(session)
    ingestor.prime(account, [item])
    message = ingestor.store(account, item, report)
    ingestor.finish(report)
    session.flush()
    assert message is not None
    return message


def conversation(
    session: Session,
    *,
    platform: str = "x",
    account: SocialAccount | None = None,
    public: bool = True,
    text: str = "my order never arrived",
    at: datetime | None = None,
    author_id: str | None = None,
    author_name: str | None = None,
    language: str = "",
    api_base_url: str = "",
) -> Conversation:
    account = account or factories.account(session, platform, api_base_url=api_base_url, access_token="tok")
    at = at or utcnow() - timedelta(minutes=5)  # recent, so messaging windows are open
    ext = f"{platform}-{next(_n)}"
    item = factories.inbound(
        ext, platform=platform, text=text, sent_at=at, is_public=public, author_id=author_id or f"u{next(_n)}"
    )
    if author_name:
        item.author_name = author_name
    message = store(session, account, item)
    conv = message.conversation
    assert conv is not None
    if language:
        conv.language = language
    session.commit()
    return conv


def agent(
    session: Session, name: str = "Anna Berg", *, role: str = "agent", email: str | None = None
) -> Agent:
    a = Agent(
        name=name,
        email=email or f"{name.split()[0].lower()}{next(_n)}@desk.example",
        role=role,
        availability="online",
    )
    session.add(a)
    session.flush()
    return a


def principal(a: Agent) -> Principal:
    return Principal(name=f"agent:{a.email}", role=a.role, agent_id=a.id)


def headers(session: Session, role: str = "admin", agent_obj: Agent | None = None) -> dict[str, str]:
    token = create_token(session, f"t{next(_n)}", role=role, agent_id=agent_obj.id if agent_obj else None)
    session.commit()
    return {"Authorization": f"Bearer {token}"}
