"""Dead letters: inbound payloads we could not turn into messages, kept with the reason."""

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from socialdesk.db.base import Base, JSONType, Timestamped


class DeadLetter(Timestamped, Base):
    __tablename__ = "dead_letter"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # webhook, file, worker
    platform: Mapped[str] = mapped_column(String(32), default="")
    account_slug: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    replayed: Mapped[bool] = mapped_column(default=False)
