"""The one Jinja2 environment every page renders with.

Pages live beside their domain: the loader searches ``web/ui/templates`` first, then every
``src/socialdesk/<domain>/templates`` folder, so a domain's page can ``{% extends "base.html" %}``
and keep its own templates in its own folder (name them ``<domain>/page.html`` to avoid clashes).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

UI_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = UI_DIR.parent.parent
STATIC_DIR = UI_DIR / "static"

# The navigation every page shows: (label, path, roles that see it).
NAVIGATION: list[tuple[str, str, tuple[str, ...]]] = [
    ("Inbox", "/", ("agent", "supervisor", "admin")),
    ("Supervisor", "/supervisor", ("supervisor", "admin")),
    ("Listening", "/listening", ("supervisor", "admin")),
    ("Alerts", "/alerts", ("supervisor", "admin")),
    ("Crisis", "/crisis", ("supervisor", "admin")),
    ("Analytics", "/analytics", ("supervisor", "admin")),
    ("Settings", "/settings", ("admin",)),
]


def template_dirs() -> list[Path]:
    dirs = [UI_DIR / "templates"]
    dirs += sorted(p for p in PACKAGE_DIR.glob("*/templates") if p.is_dir() and p.parent.name != "web")
    return dirs


def _ago(value: datetime | None, now: datetime | None = None) -> str:
    """A compact age: 45s, 12m, 3h, 5d."""
    if value is None:
        return ""
    now = now or datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int((now - value).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _nav_for(role: str | None) -> list[tuple[str, str]]:
    return [(label, path) for label, path, roles in NAVIGATION if role in roles]


def build_environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(d)) for d in template_dirs()]),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ago"] = _ago
    env.filters["iso"] = _iso
    env.globals["nav_for"] = _nav_for
    return env


class Templates(Jinja2Templates):
    """Jinja2Templates whose context always carries the principal and the CSRF token."""

    def TemplateResponse(self, request: Any, name: str, context: dict[str, Any] | None = None, **kw: Any):  # noqa: N802
        context = dict(context or {})
        state = request.state
        context.setdefault("principal", getattr(state, "principal", None))
        context.setdefault("csrf_token", getattr(state, "csrf_token", ""))
        return super().TemplateResponse(request, name, context, **kw)


templates = Templates(env=build_environment())
