"""Canned responses (reply templates) and macros."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, JSONType, Timestamped

APPROVAL_STATES = ("draft", "approved", "rejected")


class ReplyTemplate(Timestamped, Base):
    """A canned response: Jinja2 bodies per locale, a composer shortcode, an approval state."""

    __tablename__ = "reply_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # Typed in the composer as "/shortcode".
    shortcode: Mapped[str | None] = mapped_column(String(40), unique=True, default=None)
    # None: usable for every brand.
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brand.id"), default=None, index=True)
    default_locale: Mapped[str] = mapped_column(String(16), default="en")
    # locale ("en", "de", "pt-BR"...) → template source.
    bodies: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    # Only approved templates are offered to automation and may go out of a messaging window.
    approval: Mapped[str] = mapped_column(String(16), default="draft")
    approved_by: Mapped[str] = mapped_column(String(200), default="")
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    # The name of the matching template approved by WhatsApp (Meta), for sends outside the window.
    whatsapp_template_name: Mapped[str] = mapped_column(String(512), default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime | None] = mapped_column(default=None)


class Macro(Timestamped, Base):
    """A named bundle of actions an agent runs in one click (reply + label + resolve...)."""

    __tablename__ = "macro"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    # [{"type": "reply", "template_id": 3} | {"type": "reply", "text": "..."} |
    #  {"type": "add_labels", "labels": [...]} | {"type": "remove_labels", "labels": [...]} |
    #  {"type": "set_priority", "priority": "high"} | {"type": "set_status", "status": "resolved"}]
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str] = mapped_column(String(200), default="")
