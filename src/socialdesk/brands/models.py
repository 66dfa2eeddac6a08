"""Brands and the social accounts they connect."""

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from socialdesk.db.base import Base, Timestamped


class Brand(Timestamped, Base):
    __tablename__ = "brand"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The brand's voice: "formal", "neutral" or "casual" (the reply checker reads it).
    formality: Mapped[str] = mapped_column(String(16), default="neutral")

    accounts: Mapped[list["SocialAccount"]] = relationship(back_populates="brand")


class SocialAccount(Timestamped, Base):
    """One connected account of a brand on one platform (an X handle, a Facebook Page...)."""

    __tablename__ = "social_account"
    __table_args__ = (UniqueConstraint("platform", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    # The name used in webhook URLs: /webhooks/{platform}/{slug}.
    slug: Mapped[str] = mapped_column(String(64))
    # The platform's id for the account (page id, phone number id, bot id, user id).
    external_id: Mapped[str] = mapped_column(String(128), default="")
    handle: Mapped[str] = mapped_column(String(128), default="")
    # Secrets are write-only: the API never returns them.
    app_secret: Mapped[str] = mapped_column(String(256), default="")
    verify_token: Mapped[str] = mapped_column(String(256), default="")
    access_token: Mapped[str] = mapped_column(String(512), default="")
    # Where `send` posts; empty means the platform's real API.
    api_base_url: Mapped[str] = mapped_column(String(256), default="")

    brand: Mapped[Brand] = relationship(back_populates="accounts")
