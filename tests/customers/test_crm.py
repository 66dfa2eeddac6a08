"""The CRM order lookup against the local fake CRM: contract, secret header, timeout, cache."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from socialdesk.auth.models import AuditEntry
from socialdesk.auth.service import Principal
from socialdesk.customers import crm
from socialdesk.customers.fake_crm import RunningFakeCrm, running_fake_crm
from socialdesk.customers.models import CrmConfig, Customer, Identity
from tests import factories

ADMIN = Principal(name="Ada", role="admin", agent_id=None)
ORDERS = [
    {
        "id": "4471",
        "status": "shipped",
        "total": 59.9,
        "currency": "eur",
        "date": "2026-11-20",
        "link": "https://shop.example/orders/4471",
    },
    {
        "id": 4502,
        "status": "processing",
        "total": "12.50",
        "date": "2026-11-22T09:30:00Z",
        "link": "javascript:alert(1)",
    },
]


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFakeCrm]:
    with running_fake_crm() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_cache(fake: RunningFakeCrm) -> Iterator[None]:
    crm.cache.clear()
    fake.fail_next(0)
    fake.set_delay(0)
    yield
    crm.cache.clear()


@pytest.fixture
def customer(session) -> Customer:
    c = Customer(name="Dana Miller", email="dana@example.com")
    c.identities = [Identity(platform="x", external_user_id="501", handle="dana_m")]
    session.add(c)
    session.commit()
    return c


@pytest.fixture
def brand(session, fake):
    b = factories.brand(session, "acme")
    crm.save_config(
        session, b.id, endpoint_url=fake.endpoint, secret_header=fake.header, secret=fake.secret, actor=ADMIN
    )
    session.commit()
    return b


def test_orders_come_back_parsed_newest_first_with_safe_links(session, fake, brand, customer):
    fake.add_orders("x:501", ORDERS)
    result = crm.lookup_orders(session, brand.id, customer)
    assert result.state == "ok" and not result.from_cache
    assert [o.id for o in result.orders] == ["4502", "4471"]
    assert result.orders[1].total == Decimal("59.9") and result.orders[1].currency == "EUR"
    assert result.orders[1].link == "https://shop.example/orders/4471"
    assert result.orders[0].link == ""  # a javascript: link is never clickable
    request = fake.requests[-1]
    assert request["authorized"] is True
    assert request["body"] == {
        "brand": "acme",
        "customer": {"id": customer.id, "name": "Dana Miller", "email": "dana@example.com", "phone": ""},
        "identities": [{"platform": "x", "external_user_id": "501", "handle": "dana_m"}],
    }


def test_the_email_identity_also_finds_orders(session, fake, brand, customer):
    fake.add_orders("email:dana@example.com", ORDERS[:1])
    fake.add_orders("x:501", [])
    assert [o.id for o in crm.lookup_orders(session, brand.id, customer).orders] == ["4471"]


def test_answers_are_cached_and_a_config_change_invalidates_them(session, fake, brand, customer):
    fake.add_orders("x:501", ORDERS[:1])
    before = len(fake.requests)
    assert not crm.lookup_orders(session, brand.id, customer).from_cache
    assert crm.lookup_orders(session, brand.id, customer).from_cache
    assert len(fake.requests) == before + 1
    crm.save_config(session, brand.id, endpoint_url=fake.endpoint, secret_header=fake.header, actor=ADMIN)
    assert not crm.lookup_orders(session, brand.id, customer).from_cache
    assert len(fake.requests) == before + 2


def test_no_config_disabled_and_no_customer(session, fake, customer):
    other = factories.brand(session, "other")
    assert crm.lookup_orders(session, other.id, customer).state == "not_configured"
    assert crm.lookup_orders(session, None, customer).state == "not_configured"
    crm.save_config(
        session,
        other.id,
        endpoint_url=fake.endpoint,
        secret_header=fake.header,
        secret=fake.secret,
        enabled=False,
        actor=ADMIN,
    )
    assert crm.lookup_orders(session, other.id, customer).state == "disabled"
    crm.save_config(session, other.id, endpoint_url=fake.endpoint, secret_header=fake.header, actor=ADMIN)
    assert crm.lookup_orders(session, other.id, None).state == "no_customer"


def test_a_failing_slow_or_refusing_crm_is_reported_not_raised(session, fake, brand, customer):
    fake.fail_next(1, 503)
    down = crm.lookup_orders(session, brand.id, customer)
    assert down.state == "unreachable" and "HTTP 503" in down.message
    crm.cache.clear()
    fake.set_delay(crm.TIMEOUT.read + 0.5)
    slow = crm.lookup_orders(session, brand.id, customer)
    assert slow.state == "unreachable" and "did not answer within 2 s" in slow.message
    fake.set_delay(0)
    crm.cache.clear()
    crm.save_config(
        session, brand.id, endpoint_url=fake.endpoint, secret_header=fake.header, secret="wrong", actor=ADMIN
    )
    refused = crm.lookup_orders(session, brand.id, customer)
    assert refused.state == "error" and "HTTP 401" in refused.message


def test_nothing_listening_is_unreachable(session, customer):
    from socialdesk.platforms.fake_server import free_port

    b = factories.brand(session, "gone")
    crm.save_config(
        session,
        b.id,
        endpoint_url=f"http://127.0.0.1:{free_port()}/orders",
        secret_header="X-Key",
        secret="s",
        actor=ADMIN,
    )
    result = crm.lookup_orders(session, b.id, customer)
    assert result.state == "unreachable" and "could not be reached" in result.message


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], 'expected {"orders": [...]}'),
        ({"orders": [{"id": "1", "status": "x", "total": 1}]}, "orders[0] lacks date"),
        (
            {"orders": [{"id": "1", "status": "x", "total": "lots", "date": "2026-01-01"}]},
            "total is not a number",
        ),
        (
            {"orders": [{"id": "1", "status": "x", "total": True, "date": "2026-01-01"}]},
            "total is not a number",
        ),
        ({"orders": [{"id": "1", "status": "x", "total": 1, "date": "yesterday"}]}, "not an ISO 8601 date"),
        ({"orders": ["4471"]}, "orders[0] is not an object"),
    ],
)
def test_answers_outside_the_contract_are_named(payload, message):
    with pytest.raises(crm.CrmError, match=message.replace("[", r"\[").replace("{", r"\{")):
        crm.parse_orders(payload)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"endpoint_url": "http://crm.example.com/orders"}, "must use HTTPS"),
        ({"endpoint_url": "crm.example.com"}, "must be a full URL"),
        ({"endpoint_url": "https://user:pw@crm.example.com/orders"}, "not in the URL"),
        ({"secret_header": "Bad Header"}, "HTTP header name"),
        ({"secret_header": "Host"}, "HTTP header name"),
        ({"secret": "line\nbreak"}, "line breaks"),
    ],
)
def test_bad_configuration_is_refused(session, changes, message):
    b = factories.brand(session, "cfg")
    values = {"endpoint_url": "https://crm.example.com/orders", "secret_header": "X-Api-Key", "secret": "s3"}
    with pytest.raises(crm.CrmError, match=message):
        crm.save_config(session, b.id, actor=ADMIN, **{**values, **changes})
    assert session.scalar(select(CrmConfig)) is None


def test_a_new_config_needs_a_secret_and_an_admin_and_the_audit_never_holds_it(session):
    b = factories.brand(session, "sec")
    with pytest.raises(crm.CrmError, match="enter the secret"):
        crm.save_config(
            session, b.id, endpoint_url="https://crm.example.com/o", secret_header="X-Key", actor=ADMIN
        )
    agent = Principal(name="Al", role="agent", agent_id=None)
    with pytest.raises(crm.CrmError, match="only an admin"):
        crm.save_config(
            session,
            b.id,
            endpoint_url="https://crm.example.com/o",
            secret_header="X-Key",
            secret="top-secret-value",
            actor=agent,
        )
    row = crm.save_config(
        session,
        b.id,
        endpoint_url="https://crm.example.com/o",
        secret_header="X-Key",
        secret="top-secret-value",
        actor=ADMIN,
    )
    kept = crm.save_config(
        session, b.id, endpoint_url="https://crm.example.com/v2", secret_header="X-Key", actor=ADMIN
    )
    assert kept.id == row.id and kept.secret_value == "top-secret-value" and kept.version == 2
    details = " ".join(str(e.data) for e in session.scalars(select(AuditEntry)))
    assert "top-secret-value" not in details and "endpoint_url" in details
    crm.remove_config(session, b.id, actor=ADMIN)
    assert session.scalar(select(CrmConfig)) is None
