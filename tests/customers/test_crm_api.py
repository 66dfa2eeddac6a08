"""The JSON API of the CRM lookup: orders for a customer and brand; admins set the config."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from socialdesk.auth.service import create_token
from socialdesk.customers import crm
from socialdesk.customers.fake_crm import RunningFakeCrm, running_fake_crm
from socialdesk.customers.models import Customer, Identity
from tests import factories


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFakeCrm]:
    with running_fake_crm() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    crm.cache.clear()
    yield
    crm.cache.clear()


def _headers(session, role: str) -> dict[str, str]:
    raw = create_token(session, f"{role}-token", role=role)
    session.commit()
    return {"Authorization": f"Bearer {raw}"}


def test_admin_configures_and_anyone_reads_orders(client, session, fake):
    brand = factories.brand(session, "acme")
    customer = Customer(name="Dana", identities=[Identity(platform="x", external_user_id="501")])
    session.add(customer)
    session.commit()
    admin, agent = _headers(session, "admin"), _headers(session, "agent")
    body = {"endpoint_url": fake.endpoint, "secret_header": fake.header, "secret": fake.secret}
    assert (
        client.put(f"/api/v1/customers/crm/configs/{brand.id}", json=body, headers=agent).status_code == 403
    )
    none = client.get(f"/api/v1/customers/{customer.id}/orders?brand_id={brand.id}", headers=agent).json()
    assert none == {
        "state": "not_configured",
        "message": "No CRM is configured for this brand.",
        "orders": [],
    }
    saved = client.put(f"/api/v1/customers/crm/configs/{brand.id}", json=body, headers=admin)
    assert saved.status_code == 200
    assert saved.json() == {
        "brand_id": brand.id,
        "endpoint_url": fake.endpoint,
        "secret_header": fake.header,
        "secret_set": True,
        "enabled": True,
    }
    assert fake.secret not in client.get("/api/v1/customers/crm/configs", headers=admin).text
    fake.add_orders("x:501", [{"id": 7, "status": "paid", "total": "9.50", "date": "2026-11-01"}])
    got = client.get(f"/api/v1/customers/{customer.id}/orders?brand_id={brand.id}", headers=agent).json()
    assert got["state"] == "ok"
    assert got["orders"] == [
        {"id": "7", "status": "paid", "total": "9.50", "currency": "", "date": "2026-11-01", "link": ""}
    ]
    bad = client.put(
        f"/api/v1/customers/crm/configs/{brand.id}",
        json={**body, "endpoint_url": "http://x.example"},
        headers=admin,
    )
    assert bad.status_code == 422 and "HTTPS" in bad.json()["detail"]
    assert client.put("/api/v1/customers/crm/configs/999", json=body, headers=admin).status_code == 404
    assert client.get(f"/api/v1/customers/999/orders?brand_id={brand.id}", headers=agent).status_code == 404
