"""The desk's pages and htmx fragments. Thin: each handler calls a service and renders."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse

from socialdesk.auth.service import Principal
from socialdesk.db.base import utcnow
from socialdesk.live import get_broker
from socialdesk.web.deps import DbSession
from socialdesk.web.ui import inbox, replies
from socialdesk.web.ui.session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    LoginError,
    login,
    logout,
)
from socialdesk.web.ui.templating import STATIC_DIR, templates

router = APIRouter(include_in_schema=False)
templates.env.globals["triage_chips"] = inbox.triage_chips

MANAGERS = ("supervisor", "admin")


class SignInRequired(HTTPException):
    pass


def signed_in(request: Request) -> Principal:
    """The signed-in agent, or a redirect to the login page (HX-Redirect for htmx)."""
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal):
        return principal
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    expired = "&expired=1" if getattr(request.state, "session_expired", False) else ""
    location = f"/login?next={quote(target)}{expired}"
    if request.headers.get("hx-request"):
        raise SignInRequired(401, "sign in first", headers={"HX-Redirect": location})
    raise SignInRequired(303, "sign in first", headers={"Location": location})


def page_for(request: Request, *roles: str) -> Principal:
    principal = signed_in(request)
    if roles and principal.role not in roles:
        raise HTTPException(403, f"this page needs the role {' or '.join(roles)}; you are {principal.role}")
    return principal


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


@router.get("/static/{path:path}")
def static(path: str) -> Response:
    """The desk's CSS, JS and vendored files; only files inside the static folder."""
    target = (STATIC_DIR / path).resolve()
    if not target.is_file() or not target.is_relative_to(STATIC_DIR):
        raise HTTPException(404, "no such file")
    return FileResponse(target, headers={"Cache-Control": "public, max-age=300"})


# --- sign-in ------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never redirect off the desk after login.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", expired: int = 0) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    message = "Your session has expired. Please sign in again." if expired else ""
    response = render(request, "login.html", next=_safe_next(next), login_csrf=token, info=message)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", path="/login")
    return response


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        cookie, browser = login(session, email, password, user_agent=request.headers.get("user-agent", ""))
        session.commit()  # before answering: the browser acts on the answer at once
    except LoginError as exc:
        return render(
            request,
            "login.html",
            401,
            next=_safe_next(next),
            error=str(exc),
            email=email,
            login_csrf=request.cookies.get(LOGIN_CSRF_COOKIE, ""),
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax", secure=secure, path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout_submit(request: Request, session: DbSession) -> Response:
    session_id = getattr(request.state, "web_session_id", None)
    if session_id:
        logout(session, session_id)
        session.commit()  # before answering: the browser acts on the answer at once
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- inbox --------------------------------------------------------------------------------------


def _query(request: Request) -> inbox.InboxQuery:
    try:
        return inbox.InboxQuery.from_params(dict(request.query_params))
    except inbox.InboxError as exc:
        raise HTTPException(400, str(exc)) from exc


def _list_context(
    request: Request, session: Any, principal: Principal, q: inbox.InboxQuery
) -> dict[str, Any]:
    try:
        rows = inbox.list_inbox(session, principal, q)
    except inbox.InboxError as exc:
        raise HTTPException(400, str(exc)) from exc
    return {"rows": rows, "q": q, "now": utcnow(), "list_url": "/ui/list?" + urlencode(q.params())}


@router.get("/", response_class=HTMLResponse)
def inbox_page(request: Request, session: DbSession, c: int | None = None) -> HTMLResponse:
    principal = page_for(request)
    q = _query(request)
    context = _list_context(request, session, principal, q)
    current = inbox.conversation_view(session, c) if c else None
    # The views column (with its counts) loads right after the page, as its own fragment.
    return render(
        request,
        "inbox.html",
        choices=inbox.filter_choices(session),
        sorts=inbox.SORTS,
        current=current,
        chips=inbox.triage_chips(current.latest_inbound) if current else [],
        **context,
    )


@router.get("/ui/list", response_class=HTMLResponse)
def inbox_list(request: Request, session: DbSession) -> HTMLResponse:
    principal = page_for(request)
    return render(request, "_list.html", **_list_context(request, session, principal, _query(request)))


@router.get("/ui/views", response_class=HTMLResponse)
def inbox_views(request: Request, session: DbSession, view: str = "all_open") -> HTMLResponse:
    principal = page_for(request)
    q = inbox.InboxQuery(view=view)
    return render(
        request,
        "_views.html",
        views=inbox.views_for(session, principal),
        q=q,
        saved=replies.saved_filters(session, principal),
    )


def _conversation_or_404(session: Any, conversation_id: int) -> inbox.ConversationView:
    view = inbox.conversation_view(session, conversation_id)
    if view is None:
        raise HTTPException(404, f"no conversation with id {conversation_id}")
    return view


def _pane(request: Request, session: Any, conversation_id: int, **extra: Any) -> HTMLResponse:
    view = _conversation_or_404(session, conversation_id)
    return render(
        request,
        "_conversation.html",
        current=view,
        chips=inbox.triage_chips(view.latest_inbound),
        now=utcnow(),
        **extra,
    )


@router.get("/ui/conversations/{conversation_id}", response_class=HTMLResponse)
def conversation_pane(request: Request, conversation_id: int, session: DbSession) -> HTMLResponse:
    page_for(request)
    return _pane(request, session, conversation_id)


@router.get("/ui/conversations/{conversation_id}/thread", response_class=HTMLResponse)
def conversation_thread(request: Request, conversation_id: int, session: DbSession) -> HTMLResponse:
    page_for(request)
    view = _conversation_or_404(session, conversation_id)
    return render(request, "_thread.html", current=view, chips=inbox.triage_chips(view.latest_inbound))


def _action_result(
    request: Request, session: Any, conversation_id: int, error: str = "", ok: str = ""
) -> Response:
    response = _pane(request, session, conversation_id, flash_error=error, flash_ok=ok)
    if error:
        response.status_code = 400
        # htmx swaps 2xx only by default; the pane with the message must still show.
        response.headers["HX-Reswap"] = "innerHTML"
    return response


@router.post("/ui/conversations/{conversation_id}/reply", response_class=HTMLResponse)
def reply(
    request: Request,
    conversation_id: int,
    session: DbSession,
    text: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "send",
) -> Response:
    principal = page_for(request)
    conversation = _conversation_or_404(session, conversation_id).conversation
    try:
        note = replies.send_reply(session, conversation, text, actor=principal, mode=mode)
        session.commit()  # before answering: the browser acts on the answer at once
    except replies.ReplyError as exc:
        session.rollback()
        return _action_result(request, session, conversation_id, error=str(exc))
    return _action_result(request, session, conversation_id, ok=note)


@router.post("/ui/conversations/{conversation_id}/status", response_class=HTMLResponse)
def set_status(
    request: Request, conversation_id: int, session: DbSession, status: Annotated[str, Form()] = ""
) -> Response:
    principal = page_for(request)
    conversation = _conversation_or_404(session, conversation_id).conversation
    try:
        replies.change_status(session, conversation, status, actor=principal)
        session.commit()  # before answering: the browser acts on the answer at once
    except replies.ReplyError as exc:
        session.rollback()
        return _action_result(request, session, conversation_id, error=str(exc))
    return _action_result(request, session, conversation_id, ok=f"Status: {status}")


@router.post("/ui/conversations/{conversation_id}/assign", response_class=HTMLResponse)
def assign(
    request: Request,
    conversation_id: int,
    session: DbSession,
    agent_id: Annotated[str, Form()] = "",
    team_id: Annotated[str, Form()] = "",
) -> Response:
    principal = page_for(request)
    conversation = _conversation_or_404(session, conversation_id).conversation
    try:
        replies.assign(session, conversation, agent_id, team_id, actor=principal)
        session.commit()  # before answering: the browser acts on the answer at once
    except replies.ReplyError as exc:
        session.rollback()
        return _action_result(request, session, conversation_id, error=str(exc))
    return _action_result(request, session, conversation_id, ok="Assignment saved")


@router.post("/ui/conversations/{conversation_id}/note", response_class=HTMLResponse)
def note(
    request: Request, conversation_id: int, session: DbSession, body: Annotated[str, Form()] = ""
) -> Response:
    principal = page_for(request)
    conversation = _conversation_or_404(session, conversation_id).conversation
    try:
        replies.add_note(session, conversation, body, actor=principal)
        session.commit()  # before answering: the browser acts on the answer at once
    except replies.ReplyError as exc:
        session.rollback()
        return _action_result(request, session, conversation_id, error=str(exc))
    return _action_result(request, session, conversation_id, ok="Note added")


@router.post("/ui/conversations/{conversation_id}/labels", response_class=HTMLResponse)
def labels(
    request: Request,
    conversation_id: int,
    session: DbSession,
    add: Annotated[str, Form()] = "",
    remove: Annotated[str, Form()] = "",
) -> Response:
    principal = page_for(request)
    conversation = _conversation_or_404(session, conversation_id).conversation
    try:
        replies.change_labels(session, conversation, add=add, remove=remove, actor=principal)
        session.commit()  # before answering: the browser acts on the answer at once
    except replies.ReplyError as exc:
        session.rollback()
        return _action_result(request, session, conversation_id, error=str(exc))
    return _action_result(request, session, conversation_id)


@router.post("/ui/check-reply", response_class=HTMLResponse)
def check_reply(
    request: Request,
    session: DbSession,
    conversation_id: Annotated[int, Form()],
    text: Annotated[str, Form()] = "",
    public: Annotated[str, Form()] = "1",
) -> HTMLResponse:
    page_for(request)
    view = _conversation_or_404(session, conversation_id)
    warnings = replies.check(view, text, is_public=public == "1")
    return render(request, "_checks.html", warnings=warnings)


@router.get("/ui/canned", response_class=HTMLResponse)
def canned(request: Request, session: DbSession, conversation_id: int, q: str = "") -> HTMLResponse:
    principal = page_for(request)
    view = _conversation_or_404(session, conversation_id)
    return render(
        request, "_canned.html", options=replies.canned_options(session, view.conversation, q, principal)
    )


@router.post("/ui/bulk", response_class=HTMLResponse)
async def bulk(request: Request, session: DbSession) -> Response:
    principal = page_for(request)
    form = await request.form()
    ids = [int(v) for v in form.getlist("ids") if str(v).isdigit()]
    try:
        message = replies.bulk(session, principal, str(form.get("action", "")), ids, dict(form))
        session.commit()  # before answering: the browser acts on the answer at once
    except replies.ReplyError as exc:
        session.rollback()
        return HTMLResponse(
            f'<div class="flash-error" role="alert">{_esc(str(exc))}</div>',
            status_code=400,
            headers={"HX-Reswap": "innerHTML"},
        )
    return HTMLResponse(
        f'<div class="flash-ok" role="status">{_esc(message)}</div>', headers={"HX-Trigger": "inbox-refresh"}
    )


@router.post("/ui/saved-filters", response_class=HTMLResponse)
def save_filter(
    request: Request,
    session: DbSession,
    name: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
) -> Response:
    principal = page_for(request)
    try:
        replies.save_filter(session, principal, name, query)
        session.commit()  # before answering: the browser acts on the answer at once
    except replies.ReplyError as exc:
        return HTMLResponse(
            f'<div class="flash-error" role="alert">{_esc(str(exc))}</div>',
            status_code=400,
            headers={"HX-Reswap": "innerHTML"},
        )
    return HTMLResponse(
        '<div class="flash-ok" role="status">Saved</div>', headers={"HX-Trigger": "inbox-refresh"}
    )


def _esc(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


# --- live updates -------------------------------------------------------------------------------


@router.get("/ui/events")
async def events(request: Request) -> StreamingResponse:
    """Server-sent events: every live event, as ``event: <kind>``; a comment every 15 s keeps proxies open."""
    page_for(request)

    async def stream() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        subscription = get_broker().subscribe()
        # One pending read at a time, never cancelled on a keep-alive tick (that would end the
        # subscription); cancelled only when the browser goes away.
        pending: asyncio.Future[Any] | None = None
        try:
            while not await request.is_disconnected():
                if pending is None:
                    pending = asyncio.ensure_future(anext(subscription))
                done, _ = await asyncio.wait({pending}, timeout=15)
                if not done:
                    yield ": keep-alive\n\n"
                    continue
                event, pending = pending.result(), None
                yield f"event: {event.kind}\ndata: {json.dumps(event.data, default=str)}\n\n"
        finally:
            if pending is not None and not pending.done():
                # The read owns the generator; cancelling it runs the broker's unsubscribe.
                pending.cancel()
            else:
                with contextlib.suppress(BaseException):
                    await subscription.aclose()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --- search -------------------------------------------------------------------------------------


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, session: DbSession, q: str = "") -> HTMLResponse:
    page_for(request)
    from socialdesk.search.service import SearchError, search

    error = ""
    results = None
    if q.strip():
        try:
            results = search(session, q)
        except SearchError as exc:
            error = str(exc)
    return render(
        request,
        "search.html",
        search_query=q,
        results=results,
        error=error,
        status_code=400 if error else 200,
    )


# --- supervisor ---------------------------------------------------------------------------------


@router.get("/supervisor", response_class=HTMLResponse)
def supervisor_page(request: Request, session: DbSession) -> HTMLResponse:
    page_for(request, *MANAGERS)
    from socialdesk.web.ui import supervisor

    return render(request, "supervisor.html", board=supervisor.cached_board(session))


@router.get("/ui/supervisor/board", response_class=HTMLResponse)
def supervisor_board(request: Request, session: DbSession) -> HTMLResponse:
    page_for(request, *MANAGERS)
    from socialdesk.web.ui import supervisor

    return render(request, "_supervisor_board.html", board=supervisor.cached_board(session))


# --- settings (admin) ---------------------------------------------------------------------------


def _settings_page(
    request: Request,
    session: Any,
    section: str,
    *,
    error: str = "",
    ok: str = "",
    dry: Any = None,
    status: int = 200,
) -> HTMLResponse:
    from socialdesk.web.ui import settings

    try:
        data = settings.section_data(session, section)
    except settings.SettingsError as exc:
        raise HTTPException(404, str(exc)) from exc
    return render(
        request,
        "settings.html",
        status,
        sections=settings.SECTIONS,
        section=section,
        data=data,
        error=error,
        ok=ok,
        dry=dry,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: DbSession, section: str = "brands") -> HTMLResponse:
    page_for(request, "admin")
    return _settings_page(request, session, section)


@router.post("/settings/{section}/{action}", response_class=HTMLResponse)
async def settings_action(request: Request, section: str, action: str, session: DbSession) -> HTMLResponse:
    principal = page_for(request, "admin")
    from socialdesk.web.ui import settings

    form = {k: str(v) for k, v in (await request.form()).items()}
    dry = None
    try:
        if section == "brands" and action == "secrets":
            changed = settings.set_account_secrets(
                session, _int(form.get("account_id")), form, actor=principal
            )
            ok = f"Saved {', '.join(changed)}."
        elif section == "people" and action == "agent":
            ok = f"Agent {settings.create_agent(session, form, actor=principal).name} created."
        elif section == "people" and action == "team":
            ok = f"Team {settings.create_team(session, form, actor=principal).name} created."
        elif section == "canned" and action == "create":
            name = settings.create_canned(session, form, actor=principal).name
            ok = f"Canned response {name} created (draft)."
        elif section == "automation" and action == "dry-run":
            dry = settings.dry_run_rule(session, _int(form.get("rule_id")))
            ok = f"Dry run: {dry.matched} of {dry.examined} past events would have matched; nothing changed."
        elif section == "listening" and action == "create":
            name = settings.create_listening_rule(session, form, actor=principal).name
            ok = f"Listening rule {name} created."
        else:
            raise HTTPException(404, f"no settings action {section}/{action}")
    except settings.SettingsError as exc:
        session.rollback()
        return _settings_page(request, session, section, error=str(exc), status=400)
    session.commit()
    return _settings_page(request, session, section, ok=ok, dry=dry)


def _int(raw: str | None) -> int:
    from socialdesk.web.ui.settings import SettingsError

    if not raw or not raw.strip().isdigit():
        raise SettingsError("a numeric id is required")
    return int(raw)
