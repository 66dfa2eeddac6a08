"""Small builders for the objects tests need, with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from socialdesk.brands.models import Brand, SocialAccount
from socialdesk.platforms.base import InboundMessage

_ids = itertools.count(1)


def brand(session: Session, slug: str = "acme", **kw: Any) -> Brand:
    b = Brand(slug=slug, name=kw.pop("name", slug.title()), **kw)
    session.add(b)
    session.flush()
    return b


def account(
    session: Session,
    platform: str = "x",
    slug: str | None = None,
    *,
    brand_obj: Brand | None = None,
    **kw: Any,
) -> SocialAccount:
    brand_obj = brand_obj or brand(session, f"brand{next(_ids)}")
    a = SocialAccount(
        brand=brand_obj,
        platform=platform,
        slug=slug or f"{platform}-{next(_ids)}",
        app_secret=kw.pop("app_secret", "app-secret"),
        verify_token=kw.pop("verify_token", "verify-token"),
        external_id=kw.pop("external_id", "999"),
        handle=kw.pop("handle", "AcmeCare"),
        **kw,
    )
    session.add(a)
    session.flush()
    return a


def inbound(
    external_id: str | None = None,
    *,
    thread_key: str | None = None,
    author_id: str = "u1",
    text: str = "my order never arrived",
    sent_at: datetime | None = None,
    reply_to: str | None = None,
    direction: str = "inbound",
    platform: str = "x",
    is_public: bool = True,
    addressed_to_brand: bool = True,
    followers: int = 0,
) -> InboundMessage:
    ext = external_id or str(next(_ids))
    return InboundMessage(
        platform=platform,
        external_id=ext,
        thread_key=thread_key or ext,
        author_id=author_id,
        author_handle=f"h_{author_id}",
        author_name=f"Name {author_id}",
        text=text,
        sent_at=sent_at or datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        is_public=is_public,
        reply_to_external_id=reply_to,
        direction=direction,
        addressed_to_brand=addressed_to_brand,
        author_followers=followers,
    )
