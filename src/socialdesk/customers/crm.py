"""Order lookup in the brand's CRM, for the customer panel.

Each brand may configure one endpoint (``CrmConfig``). The desk calls it with the customer's
identities and shows the orders it answers with. The call is short (``TIMEOUT``) and its
answers are kept for a little while (``CACHE_TTL``) so switching between conversations does
not hit the CRM each time; a change of configuration invalidates them.

The contract (also in docs/crm-lookup.md)
------------------------------------------
Request: ``POST <endpoint_url>`` with ``Content-Type: application/json`` and the configured
secret header (e.g. ``Authorization: Bearer …`` or ``X-Api-Key: …``)::

    {"brand": "acme",
     "customer": {"id": 12, "name": "Dana Miller", "email": "dana@example.com", "phone": ""},
     "identities": [{"platform": "x", "external_user_id": "501", "handle": "dana_m"}]}

Response: ``200`` with ::

    {"orders": [{"id": "4471", "status": "shipped", "total": 59.9, "currency": "EUR",
                 "date": "2026-11-20T10:02:00Z", "link": "https://shop.example/orders/4471"}]}

``id``, ``status``, ``total`` (number or decimal string) and ``date`` (ISO 8601 date or
date-time) are required; ``currency`` and ``link`` (http/https) are optional. ``404`` or an
empty list means the CRM knows no orders for this customer. Any other answer is shown as an
error; the desk never retries within one lookup.

The endpoint must be HTTPS; plain HTTP is accepted only on the loopback interface (a CRM
bridge on the same host, and the tests' fake CRM).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from ipaddress import ip_address
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal, audit
from socialdesk.brands.models import Brand
from socialdesk.customers.models import CrmConfig, Customer

TIMEOUT = httpx.Timeout(2.0, connect=1.0)
CACHE_TTL = 60.0  # seconds an answer with orders (or none) is reused
FAILURE_TTL = 15.0  # a failing CRM is asked again sooner
CACHE_SIZE = 256
MAX_ORDERS = 50
MAX_BODY = 256 * 1024
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
# Headers the HTTP client owns; a secret must not replace them.
_RESERVED_HEADERS = {"host", "content-length", "content-type", "transfer-encoding", "connection", "accept"}

State = Literal["not_configured", "disabled", "no_customer", "unreachable", "error", "ok"]


class CrmError(ValueError):
    """A CRM configuration that was refused; the message says what to fix."""


@dataclass(slots=True, frozen=True)
class Order:
    id: str
    status: str
    total: Decimal
    currency: str
    date: datetime | date
    link: str


@dataclass(slots=True)
class OrdersResult:
    state: State
    orders: list[Order] = field(default_factory=list)
    message: str = ""
    from_cache: bool = False


# --- configuration ------------------------------------------------------------------------------


def check_endpoint(url: str) -> str:
    url = url.strip()
    if len(url) > 500:
        raise CrmError("the endpoint URL is longer than 500 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CrmError("the endpoint must be a full URL like https://crm.example.com/socialdesk/orders")
    if parts.username or parts.password:
        raise CrmError("put credentials in the secret header, not in the URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise CrmError("the endpoint must use HTTPS (plain HTTP only on 127.0.0.1 / localhost)")
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def config_for(session: Session, brand_id: int | None) -> CrmConfig | None:
    if brand_id is None:
        return None
    return session.scalar(select(CrmConfig).where(CrmConfig.brand_id == brand_id))


def save_config(
    session: Session,
    brand_id: int,
    *,
    endpoint_url: str,
    secret_header: str,
    secret: str = "",
    enabled: bool = True,
    actor: Principal,
) -> CrmConfig:
    """Create or change a brand's CRM lookup. An empty ``secret`` keeps the stored one."""
    if actor.role != "admin":
        raise CrmError(f"only an admin may change the CRM lookup; you are {actor.role}")
    brand = session.get(Brand, brand_id)
    if brand is None:
        raise CrmError(f"brand {brand_id} does not exist")
    url = check_endpoint(endpoint_url)
    header = secret_header.strip()
    if not _HEADER_NAME.match(header) or header.lower() in _RESERVED_HEADERS:
        raise CrmError("the secret header must be an HTTP header name like Authorization or X-Api-Key")
    secret = secret.strip()
    if len(secret) > 512:
        raise CrmError("the secret is longer than 512 characters")
    if any(c in secret for c in "\r\n\0"):
        raise CrmError("the secret cannot contain line breaks")
    row = config_for(session, brand_id)
    if row is None:
        if not secret:
            raise CrmError("enter the secret the CRM expects in the header")
        row = CrmConfig(brand_id=brand_id, version=1)
        session.add(row)
        changed = ["endpoint_url", "secret_header", "secret", "enabled"]
    else:
        changed = [
            name
            for name, new in (("endpoint_url", url), ("secret_header", header), ("enabled", enabled))
            if getattr(row, name) != new
        ] + (["secret"] if secret else [])
        row.version = (row.version or 1) + 1
    row.endpoint_url = url
    row.secret_header = header
    row.enabled = enabled
    if secret:
        row.secret_value = secret
    session.flush()
    # The audit names what changed, never the secret.
    audit(session, actor.name, "crm.config", f"brand:{brand.slug}", changed=changed)
    return row


def remove_config(session: Session, brand_id: int, *, actor: Principal) -> None:
    if actor.role != "admin":
        raise CrmError(f"only an admin may change the CRM lookup; you are {actor.role}")
    row = config_for(session, brand_id)
    if row is None:
        raise CrmError(f"brand {brand_id} has no CRM lookup")
    session.delete(row)
    audit(session, actor.name, "crm.config.remove", f"brand:{brand_id}")


# --- the lookup ---------------------------------------------------------------------------------


class _Cache:
    """A small LRU of lookup answers with expiry; shared by the process's threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, tuple[float, OrdersResult]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> OrdersResult | None:
        with self.lock:
            hit = self.items.get(key)
            if hit is None:
                return None
            if hit[0] < time.monotonic():
                del self.items[key]
                return None
            self.items.move_to_end(key)
            return hit[1]

    def put(self, key: str, result: OrdersResult, ttl: float) -> None:
        with self.lock:
            self.items[key] = (time.monotonic() + ttl, result)
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


cache = _Cache(CACHE_SIZE)


def request_body(brand: Brand, customer: Customer) -> dict[str, Any]:
    return {
        "brand": brand.slug,
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
        },
        "identities": [
            {"platform": i.platform, "external_user_id": i.external_user_id, "handle": i.handle}
            for i in sorted(customer.identities, key=lambda i: (i.platform, i.external_user_id))
        ],
    }


def lookup_orders(session: Session, brand_id: int | None, customer: Customer | None) -> OrdersResult:
    """The customer's orders in the brand's CRM, or why there are none to show."""
    row = config_for(session, brand_id)
    if row is None:
        return OrdersResult("not_configured", message="No CRM is configured for this brand.")
    if not row.enabled:
        return OrdersResult("disabled", message="The CRM lookup is switched off for this brand.")
    if customer is None:
        return OrdersResult("no_customer", message="No customer to look up.")
    brand = session.get(Brand, row.brand_id)
    assert brand is not None  # the foreign key cascades
    body = request_body(brand, customer)
    key = json.dumps([row.id, row.version, body], sort_keys=True)
    cached = cache.get(key)
    if cached is not None:
        return OrdersResult(cached.state, cached.orders, cached.message, from_cache=True)
    result = _call(row, body)
    cache.put(key, result, CACHE_TTL if result.state == "ok" else FAILURE_TTL)
    return result


def check_connection(session: Session, brand_id: int) -> OrdersResult:
    """Ask the brand's CRM about nobody (no identities, never cached): does it answer the contract?"""
    row = config_for(session, brand_id)
    if row is None:
        return OrdersResult("not_configured", message="No CRM is configured for this brand.")
    brand = session.get(Brand, row.brand_id)
    assert brand is not None
    probe = {
        "brand": brand.slug,
        "customer": {"id": 0, "name": "", "email": "", "phone": ""},
        "identities": [],
    }
    return _call(row, probe)


def _call(row: CrmConfig, body: dict[str, Any]) -> OrdersResult:
    headers = {
        "Accept": "application/json",
        "User-Agent": "socialdesk-crm-lookup",
        row.secret_header: row.secret_value,
    }
    try:
        response = httpx.post(row.endpoint_url, json=body, headers=headers, timeout=TIMEOUT)
    except httpx.TimeoutException:
        return OrdersResult("unreachable", message=f"The CRM did not answer within {TIMEOUT.read:g} s.")
    except httpx.HTTPError as exc:
        return OrdersResult("unreachable", message=f"The CRM could not be reached ({type(exc).__name__}).")
    if response.status_code == 404:
        return OrdersResult("ok")
    if response.status_code >= 500:
        return OrdersResult("unreachable", message=f"The CRM failed (HTTP {response.status_code}).")
    if response.status_code in (401, 403):
        return OrdersResult(
            "error", message=f"The CRM refused the lookup (HTTP {response.status_code}): check the secret."
        )
    if response.status_code != 200:
        return OrdersResult("error", message=f"The CRM answered HTTP {response.status_code}.")
    if len(response.content) > MAX_BODY:
        return OrdersResult("error", message="The CRM's answer is too large.")
    try:
        return OrdersResult("ok", parse_orders(response.json()))
    except (ValueError, CrmError) as exc:
        return OrdersResult("error", message=f"The CRM's answer does not follow the contract: {exc}")


def parse_orders(payload: Any) -> list[Order]:
    """The response body → orders, newest first; CrmError names what breaks the contract."""
    if not isinstance(payload, dict) or not isinstance(payload.get("orders"), list):
        raise CrmError('expected {"orders": [...]}')
    orders = []
    for i, raw in enumerate(payload["orders"][:MAX_ORDERS]):
        where = f"orders[{i}]"
        if not isinstance(raw, dict):
            raise CrmError(f"{where} is not an object")
        missing = [k for k in ("id", "status", "total", "date") if raw.get(k) in (None, "")]
        if missing:
            raise CrmError(f"{where} lacks {', '.join(missing)}")
        if isinstance(raw["total"], bool) or not isinstance(raw["total"], int | float | str):
            raise CrmError(f"{where}.total is not a number")
        try:
            total = Decimal(str(raw["total"]))
        except InvalidOperation as exc:
            raise CrmError(f"{where}.total is not a number") from exc
        if not total.is_finite():
            raise CrmError(f"{where}.total is not a number")
        when = _parse_date(str(raw["date"]), where)
        link = str(raw.get("link") or "")
        # Only web links become clickable: never javascript: or data: URLs from outside.
        if link and urlsplit(link).scheme not in ("http", "https"):
            link = ""
        orders.append(
            Order(
                id=str(raw["id"])[:64],
                status=str(raw["status"])[:40],
                total=total,
                currency=str(raw.get("currency") or "")[:3].upper(),
                date=when,
                link=link[:500],
            )
        )
    orders.sort(key=lambda o: _sort_key(o.date), reverse=True)
    return orders


def _parse_date(raw: str, where: str) -> datetime | date:
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CrmError(f"{where}.date {raw!r} is not an ISO 8601 date") from exc


def _sort_key(value: datetime | date) -> tuple[int, int, int, float]:
    if isinstance(value, datetime):
        return (value.year, value.month, value.day, value.timestamp() if value.tzinfo else 0.0)
    return (value.year, value.month, value.day, 0.0)
