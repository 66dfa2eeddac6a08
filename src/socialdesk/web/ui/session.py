"""Browser sign-in: a signed session cookie, CSRF on every unsafe request, lock-out, expiry.

The cookie holds an itsdangerous-signed random id; the session itself lives in the
``web_session`` table so logout, idle expiry and absolute expiry end it on the server.
The middleware puts a ``Principal`` on ``request.state.principal`` so the JSON API
(``web.deps.current_principal``) accepts a signed-in browser too, with the same CSRF rule.
Failed logins are audit entries; too many for one e-mail address within the window lock it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from anyio import to_thread
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialdesk.auth.models import AuditEntry
from socialdesk.auth.passwords import verify_password
from socialdesk.auth.service import Principal, audit
from socialdesk.config import get_settings
from socialdesk.db.base import utcnow
from socialdesk.db.engine import get_sessionmaker
from socialdesk.routing.models import Agent
from socialdesk.web.ui.models import WebSession

SESSION_COOKIE = "sd_session"
LOGIN_CSRF_COOKIE = "sd_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
# A session ends after this long without a request, and in any case after ABSOLUTE_TIMEOUT.
IDLE_TIMEOUT = timedelta(hours=2)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# Lock-out: this many failures for one address within the window locks it for the window.
MAX_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
# Writing last_seen_at on every request would make every page view a write.
TOUCH_EVERY = timedelta(seconds=60)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths that never use the browser session (signed by the platforms) or need no database.
SKIP_PREFIXES = ("/static/", "/webhooks/", "/healthz")


class LoginError(ValueError):
    """Why a sign-in was refused, in words the login page can show."""


@dataclass(slots=True, frozen=True)
class BrowserSession:
    principal: Principal
    csrf_token: str
    session_id: str


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt="socialdesk.web.session")


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _principal(agent: Agent) -> Principal:
    return Principal(name=agent.name, role=agent.role, agent_id=agent.id)


def failures_since_lock_window(session: Session, email: str, now: datetime | None = None) -> int:
    """Failed logins for ``email`` within the window, not counting those before a success."""
    now = now or utcnow()
    since = now - LOCKOUT_WINDOW
    last_ok = session.scalar(
        select(func.max(AuditEntry.at)).where(AuditEntry.action == "login.ok", AuditEntry.target == email)
    )
    if last_ok is not None and last_ok > since:
        since = last_ok
    return (
        session.scalar(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.action == "login.failed", AuditEntry.target == email, AuditEntry.at > since
            )
        )
        or 0
    )


def login(session: Session, email: str, password: str, *, user_agent: str = "") -> tuple[str, BrowserSession]:
    """Check the credentials; returns the cookie value and the new session. Commits failures."""
    email = email.strip().lower()
    if not email or not password:
        raise LoginError("Enter your e-mail address and password.")
    if failures_since_lock_window(session, email) >= MAX_FAILURES:
        minutes = int(LOCKOUT_WINDOW.total_seconds() // 60)
        raise LoginError(
            f"Too many failed sign-ins for this address. It is locked for {minutes} minutes; "
            "ask an admin if you need in sooner."
        )
    agent = session.scalar(select(Agent).where(func.lower(Agent.email) == email))
    if agent is None or not agent.active or not verify_password(agent.password_hash, password):
        # Same message whether the address exists or not: no account enumeration.
        audit(session, "anonymous", "login.failed", email)
        session.commit()
        raise LoginError("Wrong e-mail address or password.")
    raw = secrets.token_urlsafe(32)
    row = WebSession(
        id=_digest(raw), agent_id=agent.id, csrf_token=secrets.token_urlsafe(32), user_agent=user_agent[:200]
    )
    session.add(row)
    audit(session, agent.name, "login.ok", email)
    session.flush()
    return _serializer().dumps(raw), BrowserSession(_principal(agent), row.csrf_token, row.id)


def logout(session: Session, session_id: str) -> None:
    row = session.get(WebSession, session_id)
    if row is not None:
        agent = session.get(Agent, row.agent_id)
        audit(session, agent.name if agent else "?", "logout", agent.email if agent else "")
        session.delete(row)


def end_sessions_of(session: Session, agent_id: int) -> int:
    """Sign an agent out everywhere (deactivation, password change)."""
    return session.execute(delete(WebSession).where(WebSession.agent_id == agent_id)).rowcount or 0


def resolve(session: Session, cookie: str, now: datetime | None = None) -> BrowserSession | None:
    """The live session behind a cookie, or None (bad signature, logged out, expired, agent gone)."""
    now = now or utcnow()
    try:
        raw = _serializer().loads(cookie, max_age=int(ABSOLUTE_TIMEOUT.total_seconds()))
    except BadSignature:
        return None
    row = session.get(WebSession, _digest(str(raw)))
    if row is None:
        return None
    if now - row.last_seen_at > IDLE_TIMEOUT or now - row.created_at > ABSOLUTE_TIMEOUT:
        session.delete(row)
        session.commit()
        return None
    agent = session.get(Agent, row.agent_id)
    if agent is None or not agent.active:
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        session.commit()
    return BrowserSession(_principal(agent), row.csrf_token, row.id)


def _resolve_in_thread(cookie: str) -> BrowserSession | None:
    db = get_sessionmaker()()
    try:
        return resolve(db, cookie)
    finally:
        db.close()


def tokens_match(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


class BrowserSessionMiddleware:
    """Signed-in agent → request.state.principal; CSRF check on every unsafe cookie request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SKIP_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        state = scope.setdefault("state", {})
        cookie = request.cookies.get(SESSION_COOKIE)
        browser = await to_thread.run_sync(_resolve_in_thread, cookie) if cookie else None
        if browser is not None:
            state["principal"] = browser.principal
            state["csrf_token"] = browser.csrf_token
            state["web_session_id"] = browser.session_id
        elif cookie:
            state["session_expired"] = True
        method = scope["method"]
        # A bearer-token caller is not a browser: cookies play no part, so CSRF cannot either.
        has_token = "authorization" in request.headers
        login_post = scope["path"] == "/login" and method == "POST"
        if method in UNSAFE_METHODS and not has_token and (browser is not None or login_post):
            expected = browser.csrf_token if browser is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
            given = request.headers.get(CSRF_HEADER)
            if given is None and _is_form(request):
                body = await _read_body(receive)
                given = (parse_qs(body.decode("latin-1")).get(CSRF_FIELD) or [None])[0]
                receive = _replay(body, receive)
            if not tokens_match(given, expected):
                await csrf_refused(request)(scope, receive, send)
                return
        await self.app(scope, receive, send)


CSRF_REFUSED = (
    "The form's security token is missing or out of date (CSRF). Reload the page and try again."
)


def csrf_refused(request: Request) -> Response:
    """403 for a failed CSRF check, in the caller's terms: a page for a browser, a fragment for
    htmx, plain text for programs. Nothing in the request was acted on."""
    from socialdesk.web.ui.errors import wants_html

    if not wants_html(request):
        return PlainTextResponse(CSRF_REFUSED, status_code=403)
    if request.headers.get("hx-request"):
        return HTMLResponse(f'<div class="flash-error" role="alert">{CSRF_REFUSED}</div>', status_code=403)
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Access denied</title>'
        '<link rel="stylesheet" href="/static/desk.css"></head><body>'
        '<section class="panel" id="access-denied" style="max-width:560px;margin:3rem auto">'
        f'<h1>Access denied</h1><p role="alert">{CSRF_REFUSED}</p>'
        '<p><a href="/">Back to the inbox</a></p></section></body></html>',
        status_code=403,
    )


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the buffered body to the app once, then pass through (disconnect detection)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive
