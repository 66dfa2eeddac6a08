"""/api/v1/templates and /api/v1/macros: canned responses, their approval, and macros.

Everyone signed in can read and preview; admins and supervisors create, edit and approve;
any agent can apply a macro to a conversation (as themselves).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from socialdesk.assist import templates
from socialdesk.assist.models import Macro, ReplyTemplate
from socialdesk.auth.service import Principal
from socialdesk.conversations.actions import ActionError
from socialdesk.conversations.actions_views import load
from socialdesk.outbox.service import ReplyError
from socialdesk.web.deps import CurrentPrincipal, DbSession, require_role

router = APIRouter(tags=["templates and macros"])
MANAGERS = ("admin", "supervisor")


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    bodies: dict[str, str]
    default_locale: str = "en"
    shortcode: str | None = None
    brand_id: int | None = None
    whatsapp_template_name: str = ""


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    shortcode: str | None
    brand_id: int | None
    default_locale: str
    bodies: dict[str, str]
    approval: str
    approved_by: str
    approved_at: datetime | None
    whatsapp_template_name: str
    created_by: str


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approval: str


class RenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation_id: int
    language: str | None = None
    variables: dict[str, str] = Field(default_factory=dict)


class MacroIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    actions: list[dict[str, Any]]


class MacroOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: str
    actions: list[dict[str, Any]]
    created_by: str


def _template(session, template_id: int) -> ReplyTemplate:
    template = session.get(ReplyTemplate, template_id)
    if template is None:
        raise HTTPException(404, f"template {template_id} does not exist")
    return template


@router.get("/api/v1/templates", response_model=list[TemplateOut])
def list_templates(
    session: DbSession,
    principal: CurrentPrincipal,
    approval: str | None = None,
    shortcode: str | None = None,
    brand_id: int | None = None,
) -> list[TemplateOut]:
    query = select(ReplyTemplate).order_by(ReplyTemplate.name)
    if approval is not None:
        query = query.where(ReplyTemplate.approval == approval)
    if shortcode is not None:
        query = query.where(ReplyTemplate.shortcode == shortcode.lstrip("/"))
    if brand_id is not None:
        query = query.where((ReplyTemplate.brand_id == brand_id) | ReplyTemplate.brand_id.is_(None))
    return [TemplateOut.model_validate(t) for t in session.scalars(query)]


@router.post("/api/v1/templates", response_model=TemplateOut, status_code=201)
def create_template(
    body: TemplateIn, session: DbSession, principal: Principal = require_role(*MANAGERS)
) -> TemplateOut:
    try:
        template = templates.create_template(
            session, templates.TemplateInput(**body.model_dump()), actor=principal
        )
    except templates.TemplateError as exc:
        raise HTTPException(422, str(exc)) from exc
    return TemplateOut.model_validate(template)


@router.get("/api/v1/templates/{template_id}", response_model=TemplateOut)
def get_template(template_id: int, session: DbSession, principal: CurrentPrincipal) -> TemplateOut:
    return TemplateOut.model_validate(_template(session, template_id))


@router.put("/api/v1/templates/{template_id}", response_model=TemplateOut)
def update_template(
    template_id: int, body: TemplateIn, session: DbSession, principal: Principal = require_role(*MANAGERS)
) -> TemplateOut:
    template = _template(session, template_id)
    try:
        templates.update_template(
            session, template, templates.TemplateInput(**body.model_dump()), actor=principal
        )
    except templates.TemplateError as exc:
        session.rollback()
        raise HTTPException(422, str(exc)) from exc
    return TemplateOut.model_validate(template)


@router.post("/api/v1/templates/{template_id}/approval", response_model=TemplateOut)
def set_approval(
    template_id: int, body: ApprovalIn, session: DbSession, principal: Principal = require_role(*MANAGERS)
) -> TemplateOut:
    template = _template(session, template_id)
    try:
        templates.set_approval(session, template, body.approval, actor=principal)
    except templates.TemplateError as exc:
        raise HTTPException(422, str(exc)) from exc
    return TemplateOut.model_validate(template)


@router.post("/api/v1/templates/{template_id}/render")
def render(
    template_id: int, body: RenderIn, session: DbSession, principal: CurrentPrincipal
) -> dict[str, str]:
    """Preview the template for a conversation's customer (what the composer would insert)."""
    template = _template(session, template_id)
    conversation = load(session, body.conversation_id)
    try:
        text, locale = templates.render_for(
            session, template, conversation, actor=principal, extra=body.variables, language=body.language
        )
    except templates.TemplateError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"text": text, "locale": locale}


@router.get("/api/v1/macros", response_model=list[MacroOut])
def list_macros(session: DbSession, principal: CurrentPrincipal) -> list[MacroOut]:
    return [MacroOut.model_validate(m) for m in session.scalars(select(Macro).order_by(Macro.name))]


@router.post("/api/v1/macros", response_model=MacroOut, status_code=201)
def create_macro(
    body: MacroIn, session: DbSession, principal: Principal = require_role(*MANAGERS)
) -> MacroOut:
    try:
        macro = templates.create_macro(
            session, body.name, body.actions, description=body.description, actor=principal
        )
    except templates.TemplateError as exc:
        raise HTTPException(422, str(exc)) from exc
    return MacroOut.model_validate(macro)


@router.delete("/api/v1/macros/{macro_id}", status_code=204, dependencies=[require_role(*MANAGERS)])
def delete_macro(macro_id: int, session: DbSession) -> None:
    macro = session.get(Macro, macro_id)
    if macro is None:
        raise HTTPException(404, f"macro {macro_id} does not exist")
    session.delete(macro)


@router.post("/api/v1/conversations/{conversation_id}/macros/{macro_id}")
def apply_macro(
    conversation_id: int, macro_id: int, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Run the macro's actions in order; if one fails, none of them stays applied."""
    conversation = load(session, conversation_id)
    macro = session.get(Macro, macro_id)
    if macro is None:
        raise HTTPException(404, f"macro {macro_id} does not exist")
    try:
        results = templates.run_macro(session, conversation, macro, actor=principal)
    except (templates.TemplateError, ReplyError, ActionError) as exc:
        session.rollback()
        raise HTTPException(422, f"macro {macro.name!r} not applied: {exc}") from exc
    return {"conversation_id": conversation.id, "status": conversation.status, "results": results}
