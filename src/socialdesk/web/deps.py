"""FastAPI dependencies shared by every router: the database session and the caller."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal, authenticate_token
from socialdesk.db.engine import get_sessionmaker


def get_session() -> Iterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_session)]


def current_principal(
    request: Request, session: DbSession, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """A bearer token, or the signed-in agent of a browser session (set by the web UI)."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "Authorization must be 'Bearer <token>'")
        principal = authenticate_token(session, token.strip())
        if principal is None:
            raise HTTPException(401, "unknown or revoked API token")
        return principal
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal):
        return principal
    raise HTTPException(401, "an API token is required (create one with `socialdesk token create`)")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: str):
    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise HTTPException(403, f"this needs the role {' or '.join(roles)}; you are {principal.role}")
        return principal

    return Depends(check)
