"""Canned responses and macros.

Template bodies are Jinja2 rendered in a ``SandboxedEnvironment`` over plain dictionaries
(never ORM objects), so a template can read the documented variables and nothing else:
attribute tricks (``__class__``, ``mro``, ``__globals__``...) raise, huge ranges and string
multiplications are refused. Variables::

    customer.first_name  customer.name  customer.handle
    agent.name           agent.first_name
    brand.name           order_id       conversation.id  conversation.platform

Each template has one body per locale; the customer's language picks it (``pt-BR`` → ``pt-BR``,
then ``pt``, then any ``pt-*``), falling back to the template's default locale. Only approved
templates can be used by automation or sent outside a messaging window; editing an approved
template's text sends it back to draft.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.assist.models import APPROVAL_STATES, Macro, ReplyTemplate
from socialdesk.auth.service import Principal
from socialdesk.conversations.models import Conversation, Message
from socialdesk.db.base import utcnow

VARIABLES = frozenset({"customer", "agent", "brand", "order_id", "conversation"})
MAX_BODY = 5000
MAX_OUTPUT = 20_000
MAX_REPEAT = 1000
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_SHORTCODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_ORDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{2,}$")
MACRO_ACTIONS = ("reply", "add_labels", "remove_labels", "set_priority", "set_status")


class TemplateError(ValueError):
    """A template or macro that is invalid, unusable here, or failed to render."""


class _Undefined(Undefined):
    """A missing variable renders empty (a customer without an order id); a blocked
    attribute (the sandbox's SecurityError) still raises."""

    __slots__ = ()

    def __str__(self) -> str:
        if self._undefined_exception is SecurityError:
            self._fail_with_undefined_error()
        return ""


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        # "x" * 10**9 would exhaust memory before any output check could run.
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("exponent too large in a template")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int) and count > MAX_REPEAT:
                    raise SecurityError(f"repeating text more than {MAX_REPEAT} times in a template")
        return super().call_binop(context, operator, left, right)


_env = _Sandbox(undefined=_Undefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)


def check_source(source: str, locale: str = "") -> None:
    """Refuse a body that does not parse or reads a variable we do not provide."""
    where = f" ({locale})" if locale else ""
    if not isinstance(source, str) or not source.strip():
        raise TemplateError(f"template body{where} is empty")
    if len(source) > MAX_BODY:
        raise TemplateError(f"template body{where} is {len(source)} characters; at most {MAX_BODY}")
    try:
        parsed = _env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template body{where} line {exc.lineno}: {exc.message}") from exc
    for node in parsed.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", "")
        if isinstance(name, str) and name.startswith("_"):
            # The sandbox would refuse it anyway; saying so at save time is clearer.
            raise TemplateError(f"template body{where} reads the private attribute {name!r}; not allowed")
    unknown = meta.find_undeclared_variables(parsed) - VARIABLES
    if unknown:
        raise TemplateError(
            f"template body{where} uses unknown variable(s) {', '.join(sorted(unknown))}; "
            f"available: {', '.join(sorted(VARIABLES))}"
        )


def render_source(source: str, variables: dict[str, Any]) -> str:
    try:
        text = _env.from_string(source).render(**{k: v for k, v in variables.items() if k in VARIABLES})
    except SecurityError as exc:
        raise TemplateError(f"template refused by the sandbox: {exc}") from exc
    except (UndefinedError, TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateError(f"template failed to render: {exc}") from exc
    if len(text) > MAX_OUTPUT:
        raise TemplateError(f"rendered template is {len(text)} characters; at most {MAX_OUTPUT}")
    return text.strip()


def pick_locale(template: ReplyTemplate, language: str | None) -> str:
    """The body locale for a customer language, falling back to the default locale."""
    bodies = template.bodies or {}
    if language:
        wanted = language.replace("_", "-")
        lowered = {k.lower(): k for k in bodies}
        if wanted.lower() in lowered:
            return lowered[wanted.lower()]
        base = wanted.split("-")[0].lower()
        if base in lowered:
            return lowered[base]
        for key in sorted(bodies):
            if key.split("-")[0].lower() == base:
                return key
    if template.default_locale in bodies:
        return template.default_locale
    return sorted(bodies)[0]


# --- managing templates ----------------------------------------------------------------------


@dataclass(slots=True)
class TemplateInput:
    name: str
    bodies: dict[str, str]
    default_locale: str = "en"
    shortcode: str | None = None
    brand_id: int | None = None
    whatsapp_template_name: str = ""


def _validate(session: Session, data: TemplateInput, existing_id: int | None = None) -> None:
    if not data.name.strip():
        raise TemplateError("a template needs a name")
    if not data.bodies:
        raise TemplateError("a template needs at least one body, e.g. {'en': 'Hi {{ customer.first_name }}'}")
    for locale, source in data.bodies.items():
        if not _LOCALE.match(locale):
            raise TemplateError(f"locale {locale!r} is not a language tag like 'en' or 'pt-BR'")
        check_source(source, locale)
    if data.default_locale not in data.bodies:
        raise TemplateError(
            f"default locale {data.default_locale!r} has no body; "
            f"bodies exist for {', '.join(sorted(data.bodies))}"
        )
    if data.shortcode is not None and not _SHORTCODE.match(data.shortcode):
        raise TemplateError("a shortcode is 1-40 lowercase letters, digits, '-' or '_' (typed as /shortcode)")
    clash = session.scalar(
        select(ReplyTemplate).where(
            (ReplyTemplate.name == data.name.strip())
            | ((ReplyTemplate.shortcode == data.shortcode) if data.shortcode else False)
        )
    )
    if clash is not None and clash.id != existing_id:
        what = "name" if clash.name == data.name.strip() else "shortcode"
        raise TemplateError(f"another template (#{clash.id}) already has this {what}")
    if data.brand_id is not None:
        from socialdesk.brands.models import Brand

        if session.get(Brand, data.brand_id) is None:
            raise TemplateError(f"brand {data.brand_id} does not exist")


def create_template(session: Session, data: TemplateInput, *, actor: Principal | None) -> ReplyTemplate:
    _validate(session, data)
    template = ReplyTemplate(
        name=data.name.strip(),
        shortcode=data.shortcode,
        brand_id=data.brand_id,
        default_locale=data.default_locale,
        bodies=dict(data.bodies),
        whatsapp_template_name=data.whatsapp_template_name,
        approval="draft",
        created_by=actor.name if actor else "system",
    )
    session.add(template)
    session.flush()
    return template


def update_template(
    session: Session, template: ReplyTemplate, data: TemplateInput, *, actor: Principal | None
) -> ReplyTemplate:
    _validate(session, data, existing_id=template.id)
    text_changed = (
        dict(data.bodies) != dict(template.bodies or {})
        or data.whatsapp_template_name != template.whatsapp_template_name
    )
    template.name = data.name.strip()
    template.shortcode = data.shortcode
    template.brand_id = data.brand_id
    template.default_locale = data.default_locale
    template.bodies = dict(data.bodies)
    template.whatsapp_template_name = data.whatsapp_template_name
    template.updated_at = utcnow()
    if text_changed and template.approval == "approved":
        # What was approved is no longer what would be sent.
        template.approval = "draft"
        template.approved_by = ""
        template.approved_at = None
    return template


def set_approval(session: Session, template: ReplyTemplate, state: str, *, actor: Principal | None) -> None:
    if state not in APPROVAL_STATES:
        raise TemplateError(f"unknown approval state {state!r}; expected one of {', '.join(APPROVAL_STATES)}")
    template.approval = state
    template.approved_by = (actor.name if actor else "system") if state == "approved" else ""
    template.approved_at = utcnow() if state == "approved" else None


def find_by_shortcode(session: Session, shortcode: str) -> ReplyTemplate | None:
    return session.scalar(select(ReplyTemplate).where(ReplyTemplate.shortcode == shortcode.lstrip("/")))


def usable_template(
    session: Session, template_id: int, *, conversation: Conversation | None = None, automatic: bool = False
) -> ReplyTemplate:
    """The template, if this use is allowed: never rejected ones, only approved for automation."""
    template = session.get(ReplyTemplate, template_id)
    if template is None:
        raise TemplateError(f"template {template_id} does not exist")
    if template.approval == "rejected":
        raise TemplateError(f"template {template_id} ({template.name}) was rejected and cannot be used")
    if automatic and template.approval != "approved":
        raise TemplateError(
            f"template {template_id} ({template.name}) is {template.approval}; "
            "automation may use approved ones only"
        )
    if conversation is not None and template.brand_id not in (None, conversation.brand_id):
        raise TemplateError(f"template {template_id} belongs to another brand")
    return template


# --- rendering for a conversation --------------------------------------------------------------


def _first_name(full: str) -> str:
    parts = full.strip().split()
    return parts[0] if parts else ""


def _last_inbound(session: Session, conversation: Conversation) -> Message | None:
    return session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.direction == "inbound")
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(1)
    )


def _order_id(message: Message | None) -> str:
    """An order number the customer gave (triage's personal-data spans), if any."""
    if message is None or not message.triage:
        return ""
    spans = message.triage.get("pii") or []
    for span in spans if isinstance(spans, list) else []:
        if isinstance(span, dict) and span.get("kind") == "order":
            found = _ORDER_ID.search(str(span.get("text", "")).strip())
            if found:
                return found.group(0)
    return ""


def variables_for(
    session: Session,
    conversation: Conversation,
    actor: Principal | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from socialdesk.brands.models import Brand
    from socialdesk.routing.models import Agent

    last = _last_inbound(session, conversation)
    customer = conversation.customer
    name = (customer.name if customer and customer.name else "") or (last.author_name if last else "")
    handle = last.author_handle if last else ""
    agent = session.get(Agent, actor.agent_id) if actor and actor.agent_id else None
    brand = session.get(Brand, conversation.brand_id)
    variables: dict[str, Any] = {
        "customer": {"first_name": _first_name(name), "name": name, "handle": handle},
        "agent": {
            "name": agent.name if agent else "",
            "first_name": _first_name(agent.name) if agent else "",
        },
        "brand": {"name": brand.name if brand else ""},
        "order_id": _order_id(last),
        "conversation": {"id": conversation.id, "platform": conversation.platform},
    }
    for key, value in (extra or {}).items():
        if key in VARIABLES and isinstance(value, str | int):
            variables[key] = str(value)
    return variables


def customer_language(conversation: Conversation) -> str:
    if conversation.language:
        return conversation.language
    customer = conversation.customer
    return customer.locale if customer is not None and customer.locale else ""


def render_for(
    session: Session,
    template: ReplyTemplate,
    conversation: Conversation,
    *,
    actor: Principal | None,
    extra: dict[str, Any] | None = None,
    language: str | None = None,
) -> tuple[str, str]:
    """(text, locale used) for this conversation's customer."""
    locale = pick_locale(template, language or customer_language(conversation))
    text = render_source(template.bodies[locale], variables_for(session, conversation, actor, extra))
    if not text:
        raise TemplateError(f"template {template.id} rendered to an empty reply")
    return text, locale


# --- macros -------------------------------------------------------------------------------------


def validate_macro_actions(session: Session, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from socialdesk.conversations.actions import ActionError, clean_labels
    from socialdesk.conversations.models import PRIORITIES, STATUSES

    if not steps:
        raise TemplateError("a macro needs at least one action")
    cleaned: list[dict[str, Any]] = []
    for n, step in enumerate(steps, 1):
        kind = step.get("type") if isinstance(step, dict) else None
        if kind not in MACRO_ACTIONS:
            raise TemplateError(f"action {n}: type must be one of {', '.join(MACRO_ACTIONS)}")
        if kind == "reply":
            if bool(step.get("template_id")) == bool(step.get("text")):
                raise TemplateError(f"action {n}: a reply needs template_id or text (one of them)")
            if step.get("template_id"):
                usable_template(session, int(step["template_id"]))
                cleaned.append({"type": "reply", "template_id": int(step["template_id"])})
            else:
                check_source(str(step["text"]))
                cleaned.append({"type": "reply", "text": str(step["text"])})
        elif kind in ("add_labels", "remove_labels"):
            try:
                cleaned.append({"type": kind, "labels": clean_labels(step.get("labels") or [])})
            except ActionError as exc:
                raise TemplateError(f"action {n}: {exc}") from exc
        elif kind == "set_priority":
            if step.get("priority") not in PRIORITIES:
                raise TemplateError(f"action {n}: priority must be one of {', '.join(PRIORITIES)}")
            cleaned.append({"type": kind, "priority": step["priority"]})
        else:
            if step.get("status") not in STATUSES or step["status"] in ("new", "snoozed"):
                raise TemplateError(f"action {n}: status must be open, pending, resolved or closed")
            cleaned.append({"type": kind, "status": step["status"]})
    if sum(1 for s in cleaned if s["type"] == "reply") > 1:
        raise TemplateError("a macro sends at most one reply")
    return cleaned


def create_macro(
    session: Session,
    name: str,
    steps: list[dict[str, Any]],
    *,
    description: str = "",
    actor: Principal | None,
) -> Macro:
    if not name.strip():
        raise TemplateError("a macro needs a name")
    if session.scalar(select(Macro).where(Macro.name == name.strip())) is not None:
        raise TemplateError(f"a macro named {name.strip()!r} already exists")
    macro = Macro(
        name=name.strip(),
        description=description,
        actions=validate_macro_actions(session, steps),
        created_by=actor.name if actor else "system",
    )
    session.add(macro)
    session.flush()
    return macro


def run_macro(
    session: Session,
    conversation: Conversation,
    macro: Macro,
    *,
    actor: Principal | None,
    automatic: bool = False,
) -> list[dict[str, Any]]:
    """Apply the macro's actions in order, all or nothing: the caller's transaction is rolled
    back by the first failure. The reply goes first, so resolving after it is allowed."""
    from socialdesk.conversations import actions
    from socialdesk.outbox.service import queue_reply

    results: list[dict[str, Any]] = []
    for step in macro.actions:
        kind = step["type"]
        if kind == "reply":
            if "template_id" in step:
                template = usable_template(
                    session, step["template_id"], conversation=conversation, automatic=automatic
                )
                message = queue_reply(
                    session, conversation, "", actor=actor, template_id=template.id, automatic=automatic
                )
            else:
                text = render_source(step["text"], variables_for(session, conversation, actor))
                message = queue_reply(session, conversation, text, actor=actor, automatic=automatic)
            results.append({"type": kind, "message_id": message.id})
        elif kind == "add_labels":
            results.append(
                {
                    "type": kind,
                    "changed": actions.add_labels(session, conversation, step["labels"], actor=actor),
                }
            )
        elif kind == "remove_labels":
            results.append(
                {
                    "type": kind,
                    "changed": actions.remove_labels(session, conversation, step["labels"], actor=actor),
                }
            )
        elif kind == "set_priority":
            results.append(
                {
                    "type": kind,
                    "changed": actions.set_priority(session, conversation, step["priority"], actor=actor),
                }
            )
        else:
            changed = conversation.status != step["status"]
            if changed:
                actions.change_status(session, conversation, step["status"], actor=actor)
            results.append({"type": kind, "changed": changed})
    actions.record(session, conversation, "macro_applied", actor=actor, macro_id=macro.id, name=macro.name)
    return results
