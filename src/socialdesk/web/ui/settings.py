"""Admin settings pages: what each section lists, and the few writes the pages make.

Writes go through the owning domains' services (routing, assist templates, automation,
listening); account secrets are write-only: pages show whether one is set, never its value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from socialdesk.auth.service import Principal, audit
from socialdesk.brands.models import Brand, SocialAccount
from socialdesk.routing.models import Agent, Team

SECTIONS = {
    "brands": "Brands and accounts",
    "people": "Teams and agents",
    "sla": "SLA policies and business hours",
    "canned": "Canned responses",
    "automation": "Automation rules",
    "listening": "Listening rules",
}
SECRET_FIELDS = ("app_secret", "access_token", "verify_token")


class SettingsError(ValueError):
    """A settings change that was refused; the message says why."""


@dataclass(slots=True)
class AccountRow:
    account: SocialAccount
    secrets_set: dict[str, bool]
    webhook_path: str


def section_data(session: Session, section: str) -> dict[str, Any]:
    if section not in SECTIONS:
        raise SettingsError(f"unknown settings section {section!r}; expected one of {', '.join(SECTIONS)}")
    return globals()[f"_{section}"](session)


def _brands(session: Session) -> dict[str, Any]:
    brands = session.scalars(select(Brand).options(selectinload(Brand.accounts)).order_by(Brand.name)).all()
    rows = {
        b.id: [
            AccountRow(a, {f: bool(getattr(a, f)) for f in SECRET_FIELDS}, f"/webhooks/{a.platform}/{a.slug}")
            for a in sorted(b.accounts, key=lambda a: (a.platform, a.slug))
        ]
        for b in brands
    }
    return {"brands": brands, "accounts": rows}


def _people(session: Session) -> dict[str, Any]:
    return {
        "teams": session.scalars(select(Team).options(selectinload(Team.agents)).order_by(Team.name)).all(),
        "agents": session.scalars(
            select(Agent).options(selectinload(Agent.teams)).order_by(Agent.name)
        ).all(),
    }


def _sla(session: Session) -> dict[str, Any]:
    from socialdesk.routing.models import BusinessCalendar, SlaPolicy

    return {
        "policies": session.scalars(select(SlaPolicy).order_by(SlaPolicy.name)).all(),
        "calendars": session.scalars(select(BusinessCalendar).order_by(BusinessCalendar.name)).all(),
        "brand_names": dict(session.execute(select(Brand.id, Brand.name)).all()),
    }


def _canned(session: Session) -> dict[str, Any]:
    from socialdesk.assist.models import ReplyTemplate

    return {"templates": session.scalars(select(ReplyTemplate).order_by(ReplyTemplate.name)).all()}


def _automation(session: Session) -> dict[str, Any]:
    from socialdesk.automation.models import AutomationRule

    rules = session.scalars(select(AutomationRule).order_by(AutomationRule.event, AutomationRule.position))
    return {"rules": rules.all()}


def _listening(session: Session) -> dict[str, Any]:
    from socialdesk.listening.models import ListeningRule

    return {
        "rules": session.scalars(select(ListeningRule).order_by(ListeningRule.name)).all(),
        "brands": session.scalars(select(Brand).order_by(Brand.name)).all(),
    }


def set_account_secrets(
    session: Session, account_id: int, values: dict[str, str], *, actor: Principal
) -> list[str]:
    """Replace the secrets given (empty fields keep the old value); returns the names changed."""
    account = session.get(SocialAccount, account_id)
    if account is None:
        raise SettingsError(f"no account with id {account_id}")
    changed = []
    for name in SECRET_FIELDS:
        value = (values.get(name) or "").strip()
        if value:
            if len(value) > 512:
                raise SettingsError(f"{name} is longer than 512 characters")
            setattr(account, name, value)
            changed.append(name)
    if not changed:
        raise SettingsError("Enter at least one new secret; empty fields keep the current value.")
    # The audit names what changed, never the values.
    audit(session, actor.name, "account.secrets", f"{account.platform}/{account.slug}", changed=changed)
    return changed


def create_agent(session: Session, form: dict[str, str], *, actor: Principal) -> Agent:
    from socialdesk.routing.service import RoutingError
    from socialdesk.routing.service import create_agent as make

    try:
        capacity = int(form.get("capacity") or 10)
    except ValueError as exc:
        raise SettingsError("capacity must be a whole number") from exc
    try:
        return make(
            session,
            email=form.get("email", ""),
            name=form.get("name", ""),
            role=form.get("role", "agent"),
            password=form.get("password") or None,
            languages=_codes(form.get("languages", "")),
            capacity=capacity,
            team_slugs=_codes(form.get("teams", "")) or None,
            actor=actor,
        )
    except (RoutingError, ValueError) as exc:
        raise SettingsError(str(exc)) from exc


def create_team(session: Session, form: dict[str, str], *, actor: Principal) -> Team:
    from socialdesk.routing.service import RoutingError
    from socialdesk.routing.service import create_team as make

    try:
        return make(
            session,
            slug=form.get("slug", "").strip(),
            name=form.get("name", ""),
            languages=_codes(form.get("languages", "")),
            timezone=form.get("timezone") or "UTC",
            actor=actor,
        )
    except (RoutingError, ValueError) as exc:
        raise SettingsError(str(exc)) from exc


def create_canned(session: Session, form: dict[str, str], *, actor: Principal) -> Any:
    from socialdesk.assist.templates import TemplateError, TemplateInput, create_template

    locale = (form.get("locale") or "en").strip()
    data = TemplateInput(
        name=form.get("name", "").strip(),
        bodies={locale: form.get("body", "")},
        default_locale=locale,
        shortcode=(form.get("shortcode") or "").strip().lstrip("/") or None,
    )
    try:
        template = create_template(session, data, actor=actor)
    except TemplateError as exc:
        raise SettingsError(str(exc)) from exc
    audit(session, actor.name, "template.create", template.name)
    return template


def dry_run_rule(session: Session, rule_id: int) -> Any:
    from socialdesk.automation.engine import AutomationError, dry_run
    from socialdesk.automation.models import AutomationRule

    rule = session.get(AutomationRule, rule_id)
    if rule is None:
        raise SettingsError(f"no automation rule with id {rule_id}")
    try:
        return dry_run(session, event=rule.event, conditions=rule.conditions)
    except AutomationError as exc:
        raise SettingsError(str(exc)) from exc


def create_listening_rule(session: Session, form: dict[str, str], *, actor: Principal) -> Any:
    from socialdesk.listening.service import RuleError, create_rule

    try:
        return create_rule(
            session,
            brand=form.get("brand", ""),
            name=form.get("name", ""),
            query=form.get("query", ""),
            kind=form.get("kind") or "brand",
            actor=actor.name,
        )
    except (RuleError, ValueError) as exc:
        raise SettingsError(str(exc)) from exc


def _codes(raw: str) -> list[str]:
    return [c.strip() for c in raw.replace(",", " ").split() if c.strip()]


# --- after a change: redirect with a signed message ---------------------------------------------


def _flash_signer() -> Any:
    from itsdangerous import URLSafeTimedSerializer

    from socialdesk.config import get_settings

    return URLSafeTimedSerializer(get_settings().secret_key, salt="socialdesk.web.settings-flash")


def done_redirect(path: str, message: str) -> Any:
    """Post/redirect/get: the page after a change shows ``message``; a reload repeats nothing.
    The message is signed so a crafted link cannot make the page say something else."""
    from urllib.parse import quote

    from fastapi.responses import RedirectResponse

    return RedirectResponse(f"{path}?ok={quote(_flash_signer().dumps(message))}", status_code=303)


def read_flash(token: str) -> str:
    from itsdangerous import BadSignature

    if not token:
        return ""
    try:
        return str(_flash_signer().loads(token, max_age=300))
    except BadSignature:
        return ""
