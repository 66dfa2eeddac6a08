"""API tokens: random, shown once, stored as SHA-256; and the audit log."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.auth.models import ApiToken, AuditEntry
from socialdesk.db.base import utcnow

TOKEN_PREFIX = "sdk_"


@dataclass(slots=True, frozen=True)
class Principal:
    """Who is calling: an agent (by session or token) or an integration token."""

    name: str
    role: str
    agent_id: int | None = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, *, role: str = "admin", agent_id: int | None = None) -> str:
    if not name.strip():
        raise ValueError("a token needs a name")
    if role not in {"admin", "supervisor", "agent"}:
        raise ValueError(f"unknown role {role!r}; expected admin, supervisor or agent")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(name=name, token_hash=_digest(token), prefix=token[:12], role=role, agent_id=agent_id)
    )
    session.flush()
    return token


def authenticate_token(session: Session, token: str) -> Principal | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked:
        return None
    row.last_used_at = utcnow()
    return Principal(name=f"token:{row.name}", role=row.role, agent_id=row.agent_id)


def audit(session: Session, actor: str, action: str, target: str = "", **data: Any) -> None:
    session.add(AuditEntry(actor=actor, action=action, target=target, data=data))
