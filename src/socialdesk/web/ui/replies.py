"""What the desk's buttons do, over the domains' services; errors become ReplyError messages.

Status, labels, notes and bulk go through ``conversations.actions``; assignment through
``routing.service.assign``; canned responses through ``assist.templates``; the reply checker
is ``assist.checker``; replies go out through the outbox when it is installed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal, audit
from socialdesk.conversations.models import Conversation
from socialdesk.web.ui.inbox import ConversationView, InboxError, InboxQuery, count_view
from socialdesk.web.ui.models import SavedFilter

SEND_MODES = ("send", "send_resolve", "move_to_dm")


class ReplyError(ValueError):
    """A desk action that was refused; the message is shown to the agent as is."""


def send_reply(
    session: Session, conversation: Conversation, text: str, *, actor: Principal, mode: str
) -> str:
    """Queue the reply; with send_resolve also resolve; move_to_dm posts a public nudge and opens the DM."""
    if mode not in SEND_MODES:
        raise ReplyError(f"unknown send mode {mode!r}; expected one of {', '.join(SEND_MODES)}")
    if not text.strip():
        raise ReplyError("The reply is empty.")
    from socialdesk.outbox import service as outbox

    try:
        if mode == "move_to_dm":
            outbox.handoff_to_private(session, conversation, text, actor=actor)
            return "Public reply queued and the private conversation opened"
        outbox.queue_reply(session, conversation, text, actor=actor)
    except (ValueError, PermissionError) as exc:
        raise ReplyError(str(exc)) from exc
    if mode == "send_resolve":
        change_status(session, conversation, "resolved", actor=actor)
        return "Reply queued; conversation resolved"
    return "Reply queued"


def change_status(session: Session, conversation: Conversation, status: str, *, actor: Principal) -> None:
    from socialdesk.conversations import actions

    try:
        actions.change_status(session, conversation, status, actor=actor)
    except actions.ActionError as exc:
        raise ReplyError(str(exc)) from exc


def _optional_int(raw: str, what: str) -> int | None:
    raw = (raw or "").strip()
    if not raw or raw == "none":
        return None
    if not raw.isdigit():
        raise ReplyError(f"{what} must be a number")
    return int(raw)


def assign(
    session: Session, conversation: Conversation, agent_id: str, team_id: str, *, actor: Principal
) -> None:
    agent = _optional_int(agent_id, "agent")
    team = _optional_int(team_id, "team")
    if actor.role == "agent" and agent not in (None, actor.agent_id):
        raise ReplyError("Agents can assign conversations only to themselves or to a team.")
    from socialdesk.routing.service import RoutingError
    from socialdesk.routing.service import assign as route_assign

    try:
        route_assign(session, conversation, agent_id=agent, team_id=team or conversation.team_id, actor=actor)
    except RoutingError as exc:
        raise ReplyError(str(exc)) from exc


def add_note(session: Session, conversation: Conversation, body: str, *, actor: Principal) -> None:
    from socialdesk.conversations import actions

    if not body.strip():
        raise ReplyError("The note is empty.")
    try:
        actions.add_note(session, conversation, body, actor=actor)
    except actions.ActionError as exc:
        raise ReplyError(str(exc)) from exc


def change_labels(
    session: Session, conversation: Conversation, *, add: str, remove: str, actor: Principal
) -> None:
    from socialdesk.conversations import actions

    try:
        if add.strip():
            actions.add_labels(session, conversation, add.replace(",", " ").split(), actor=actor)
        if remove.strip():
            actions.remove_labels(session, conversation, [remove.strip()], actor=actor)
    except actions.ActionError as exc:
        raise ReplyError(str(exc)) from exc


def check(view: ConversationView, text: str, *, is_public: bool) -> list[Any]:
    """The reply checker's warnings for the composer; nothing while no checker is installed."""
    try:
        from socialdesk.assist.checker import check_reply
    except ImportError:
        return []
    conversation = view.conversation
    customer = view.customer
    return check_reply(
        text,
        platform=conversation.platform,
        is_public=is_public,
        customer_language=conversation.language or (customer.locale if customer else None) or None,
        customer_sentiment=conversation.sentiment or None,
        brand_formality=view.brand.formality if view.brand else "neutral",
        customer_name=(customer.name if customer else None) or None,
    )


def canned_options(
    session: Session, conversation: Conversation, query: str, actor: Principal
) -> list[dict[str, Any]]:
    """Canned responses whose shortcode or name starts with ``query``, rendered for this customer."""
    from socialdesk.assist.models import ReplyTemplate
    from socialdesk.assist.templates import TemplateError, render_for

    needle = query.strip().lstrip("/").lower()
    rows = session.scalars(
        select(ReplyTemplate)
        .where(ReplyTemplate.approval != "rejected")
        .where((ReplyTemplate.brand_id.is_(None)) | (ReplyTemplate.brand_id == conversation.brand_id))
        .order_by(ReplyTemplate.shortcode, ReplyTemplate.name)
    ).all()
    options = []
    for template in rows:
        code = (template.shortcode or "").lower()
        if needle and not (code.startswith(needle) or template.name.lower().startswith(needle)):
            continue
        try:
            text, locale = render_for(session, template, conversation, actor=actor)
        except TemplateError as exc:
            text, locale = f"(cannot use: {exc})", ""
        options.append(
            {"shortcode": template.shortcode or "", "name": template.name, "text": text, "locale": locale}
        )
        if len(options) >= 8:
            break
    return options


def bulk(session: Session, actor: Principal, action: str, ids: list[int], form: dict[str, Any]) -> str:
    from socialdesk.conversations import actions

    if not ids:
        raise ReplyError("Select at least one conversation first (x, or the checkboxes).")
    params: dict[str, Any] = {}
    if action == "assign":
        agent = _optional_int(str(form.get("agent_id", "")), "agent")
        team = _optional_int(str(form.get("team_id", "")), "team")
        if actor.role == "agent" and agent not in (None, actor.agent_id):
            raise ReplyError("Agents can assign conversations only to themselves or to a team.")
        params = {"agent_id": agent, "team_id": team}
    elif action == "add_labels":
        params = {"labels": str(form.get("labels", "")).replace(",", " ").split()}
    elif action == "set_priority":
        params = {"priority": str(form.get("priority", ""))}
    try:
        result = actions.bulk(session, action, actor=actor, ids=ids, params=params)
    except actions.ActionError as exc:
        raise ReplyError(str(exc)) from exc
    audit(
        session, actor.name, f"conversations.bulk.{action}", "", done=result.done, skipped=len(result.skipped)
    )
    done = len(result.done)
    text = f"{action.replace('_', ' ').capitalize()}: {done} conversation{'s' if done != 1 else ''} changed"
    if result.skipped:
        text += f", {len(result.skipped)} skipped ({next(iter(result.skipped.values()))})"
    return text


def saved_filters(session: Session, principal: Principal) -> list[tuple[SavedFilter, int | None]]:
    """The agent's saved filters with the number of conversations each shows now."""
    if principal.agent_id is None:
        return []
    out = []
    for row in session.scalars(
        select(SavedFilter).where(SavedFilter.agent_id == principal.agent_id).order_by(SavedFilter.name)
    ):
        try:
            q = InboxQuery.from_params(dict(parse_qsl(row.query)))
            count = _count(session, principal, q)
        except InboxError:
            count = None
        out.append((row, count))
    return out


def _count(session: Session, principal: Principal, q: InboxQuery) -> int:
    from sqlalchemy import func

    from socialdesk.web.ui.inbox import filtered_query

    if not q.filters:
        return count_view(session, principal, q.view)
    return session.scalar(filtered_query(session, select(func.count(Conversation.id)), q, principal)) or 0


def save_filter(session: Session, principal: Principal, name: str, query: str) -> SavedFilter:
    if principal.agent_id is None:
        raise ReplyError("Only signed-in agents can save filters.")
    name = name.strip()
    if not name or len(name) > 80:
        raise ReplyError("Give the filter a name of 1 to 80 characters.")
    try:
        q = InboxQuery.from_params(dict(parse_qsl(query.lstrip("?"))))
    except InboxError as exc:
        raise ReplyError(str(exc)) from exc
    row = SavedFilter(agent_id=principal.agent_id, name=name, query=urlencode(q.params()))
    session.add(row)
    session.flush()
    return row
