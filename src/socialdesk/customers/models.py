"""Customers and the platform identities that belong to them."""

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from socialdesk.db.base import Base, JSONType, Timestamped


class Customer(Timestamped, Base):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    locale: Mapped[str] = mapped_column(String(16), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    followers: Mapped[int] = mapped_column(Integer, default=0)
    vip: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[list] = mapped_column(JSONType, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")

    identities: Mapped[list["Identity"]] = relationship(back_populates="customer")


class Identity(Timestamped, Base):
    """One person on one platform. Merging moves identities; splitting moves one back out."""

    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("platform", "external_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    external_user_id: Mapped[str] = mapped_column(String(128))
    handle: Mapped[str] = mapped_column(String(128), default="")
    display_name: Mapped[str] = mapped_column(String(200), default="")
    followers: Mapped[int] = mapped_column(Integer, default=0)

    customer: Mapped[Customer] = relationship(back_populates="identities")


class CrmConfig(Timestamped, Base):
    """Where a brand's order lookup lives: an HTTPS endpoint and the header that authenticates us.

    The secret is write-only: pages and the API say whether it is set, never what it is.
    """

    __tablename__ = "crm_config"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), unique=True)
    endpoint_url: Mapped[str] = mapped_column(String(500), default="")
    secret_header: Mapped[str] = mapped_column(String(100), default="Authorization")
    secret_value: Mapped[str] = mapped_column(String(512), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    # Bumped on every change so cached answers from the old endpoint are not served.
    version: Mapped[int] = mapped_column(Integer, default=1)
