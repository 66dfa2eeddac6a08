"""Signing in and out: the session cookie, CSRF on every unsafe request, lock-out, expiry."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import func, select

from socialdesk.auth.models import AuditEntry
from socialdesk.conversations.models import Conversation
from socialdesk.db.base import utcnow
from socialdesk.web.ui import session as web_session
from socialdesk.web.ui.models import WebSession
from tests.web import factories


def test_bad_credentials_get_one_clear_message_and_no_session(browser_for, session):
    b = browser_for()
    for email in ("alice@example.com", "nobody@example.com"):
        response = b.login(email, "wrong password")
        assert response.status_code == 401
        assert "Wrong e-mail address or password." in response.text
    assert web_session.SESSION_COOKIE not in b.client.cookies
    assert session.scalar(select(func.count(WebSession.id))) == 0


def test_login_form_without_its_csrf_token_is_refused(browser_for):
    b = browser_for()
    b.client.get("/login")
    response = b.client.post("/login", data={"email": "alice@example.com", "password": factories.PASSWORD})
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_repeated_failures_lock_the_address_even_for_the_right_password(browser_for):
    b = browser_for()
    for _ in range(web_session.MAX_FAILURES):
        assert b.login("alice@example.com", "guess").status_code == 401
    locked = b.login("alice@example.com")
    assert locked.status_code == 401
    assert "locked for 15 minutes" in locked.text
    # Another address is not affected.
    assert b.login("bob@example.com").status_code == 303


def test_lockout_ends_after_the_window(browser_for):
    b = browser_for()
    for _ in range(web_session.MAX_FAILURES):
        b.login("alice@example.com", "guess")
    with time_machine.travel(utcnow() + web_session.LOCKOUT_WINDOW + timedelta(seconds=5)):
        assert b.login("alice@example.com").status_code == 303


def test_logout_ends_the_session_on_the_server(browser_for, session):
    b = browser_for("agent")
    cookie = b.client.cookies[web_session.SESSION_COOKIE]
    assert b.get("/").status_code == 200
    assert b.post("/logout", follow_redirects=False).status_code == 303
    # Replaying the old cookie does not sign anyone in.
    b.client.cookies.set(web_session.SESSION_COOKIE, cookie)
    response = b.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert session.scalar(select(func.count(WebSession.id))) == 0


def test_idle_session_expires_and_says_so(browser_for):
    b = browser_for("agent")
    with time_machine.travel(utcnow() + web_session.IDLE_TIMEOUT + timedelta(minutes=1)):
        response = b.get("/", follow_redirects=False)
        assert response.status_code == 303
        assert "expired=1" in response.headers["location"]
        assert "Your session has expired" in b.get(response.headers["location"]).text


def test_activity_keeps_a_session_alive_until_the_absolute_limit(browser_for):
    b = browser_for("agent")
    start = utcnow()
    step = web_session.IDLE_TIMEOUT - timedelta(minutes=5)
    at = start
    while at + step < start + web_session.ABSOLUTE_TIMEOUT:
        at += step
        with time_machine.travel(at):
            assert b.get("/", follow_redirects=False).status_code == 200
    with time_machine.travel(start + web_session.ABSOLUTE_TIMEOUT + timedelta(minutes=1)):
        assert b.get("/", follow_redirects=False).status_code == 303


def test_a_forged_cookie_is_ignored(browser_for):
    b = browser_for()
    b.client.cookies.set(web_session.SESSION_COOKIE, "not-a-signed-value")
    assert b.get("/", follow_redirects=False).status_code == 303


def test_every_unsafe_request_needs_the_csrf_token(browser_for, people, session):
    b = browser_for("agent")
    c = factories.conversation(session, people["account"])
    session.commit()
    for url, data in [
        (f"/ui/conversations/{c.id}/status", {"status": "resolved"}),
        (f"/ui/conversations/{c.id}/note", {"body": "hello"}),
        ("/ui/bulk", {"action": "resolve", "ids": str(c.id)}),
        ("/logout", {}),
    ]:
        missing = b.client.post(url, data=data)
        wrong = b.client.post(url, data=data, headers={"X-CSRF-Token": "forged"})
        assert missing.status_code == 403, url
        assert wrong.status_code == 403, url
    session.expire_all()
    assert session.get(Conversation, c.id).status == "new"  # nothing changed
    # The same token as a form field (plain HTML forms) is accepted.
    ok = b.client.post(f"/ui/conversations/{c.id}/status", data={"status": "pending", "csrf_token": b.csrf})
    assert ok.status_code == 200
    session.expire_all()
    assert session.get(Conversation, c.id).status == "pending"


def test_a_refused_csrf_check_answers_in_the_callers_terms(browser_for, people, session):
    b = browser_for("agent")
    c = factories.conversation(session, people["account"])
    session.commit()
    url = f"/ui/conversations/{c.id}/status"
    page = b.client.post(url, data={"status": "resolved"})
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "Access denied" in page.text and "security token" in page.text
    fragment = b.client.post(url, data={"status": "resolved"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 403 and fragment.text.startswith('<div class="flash-error"')
    api = b.client.post(f"/api/v1/conversations/{c.id}/status", json={"status": "resolved"})
    assert api.status_code == 403 and api.headers["content-type"].startswith("text/plain")
    session.expire_all()
    assert session.get(Conversation, c.id).status == "new"  # nothing changed


def test_the_json_api_accepts_the_browser_session_with_csrf(browser_for, people, session):
    b = browser_for("agent")
    c = factories.conversation(session, people["account"])
    session.commit()
    assert b.get("/api/v1/conversations").status_code == 200
    url = f"/api/v1/conversations/{c.id}/notes"
    assert b.client.post(url, json={"body": "from the browser"}).status_code == 403
    assert b.client.post(
        url, json={"body": "from the browser"}, headers={"X-CSRF-Token": b.csrf}
    ).status_code in (
        200,
        201,
    )


def test_open_redirects_are_refused(browser_for):
    b = browser_for()
    page = b.client.get("/login")
    token = page.cookies.get(web_session.LOGIN_CSRF_COOKIE) or b.client.cookies.get(
        web_session.LOGIN_CSRF_COOKIE
    )
    response = b.client.post(
        "/login",
        data={
            "email": "alice@example.com",
            "password": factories.PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_sign_in_and_out_are_audited(browser_for, session):
    b = browser_for("agent")
    b.post("/logout")
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["login.ok", "logout"]
