"""Look up a platform's connector by its name."""

from __future__ import annotations

from typing import Protocol, cast

from socialdesk.platforms import facebook, instagram, messenger, telegram, whatsapp, x, youtube
from socialdesk.platforms.base import AccountCredentials, Connector


class Signer(Protocol):
    def signature_headers(self, body: bytes, account: AccountCredentials) -> dict[str, str]: ...


_CONNECTORS: dict[str, Connector] = {
    "x": x.CONNECTOR,
    "facebook": facebook.CONNECTOR,
    "messenger": messenger.CONNECTOR,
    "instagram": instagram.CONNECTOR,
    "whatsapp": whatsapp.CONNECTOR,
    "telegram": telegram.CONNECTOR,
    "youtube": youtube.CONNECTOR,
}

PLATFORMS: tuple[str, ...] = tuple(_CONNECTORS)


def get_connector(name: str) -> Connector:
    """The connector for ``name`` (one of PLATFORMS); KeyError names the valid choices."""
    try:
        return _CONNECTORS[name]
    except KeyError:
        raise KeyError(f"unknown platform {name!r}; expected one of {', '.join(PLATFORMS)}") from None


def sign(name: str, body: bytes, account: AccountCredentials) -> dict[str, str]:
    """Webhook headers that make ``body`` pass ``name``'s signature check (demo replay, tests)."""
    # Every connector here also offers signature_headers, beyond the Connector protocol.
    return cast(Signer, get_connector(name)).signature_headers(body, account)
