"""Settings → CRM lookup: admin only, CSRF, the secret write-only, bad input changes nothing;
and refused UI pages are HTML while /api keeps JSON."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from socialdesk.customers.models import CrmConfig

GOOD = {
    "endpoint_url": "https://crm.example.com/socialdesk/orders",
    "secret_header": "X-Api-Key",
    "secret": "s3cr3t-value-42",
    "enabled": "1",
}


def _config(session) -> CrmConfig | None:
    session.expire_all()
    return session.scalar(select(CrmConfig))


@pytest.fixture
def brand_id(people) -> int:
    return people["account"].brand_id


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_only_admins(browser_for, session, brand_id, role):
    b = browser_for(role)
    page = b.get("/settings/crm")
    assert page.status_code == 403 and "Access denied" in page.text
    assert b.post(f"/settings/crm/brands/{brand_id}/save", data=GOOD).status_code == 403
    assert b.post(f"/settings/crm/brands/{brand_id}/remove").status_code == 403
    assert _config(session) is None


def test_csrf(browser_for, session, brand_id):
    admin = browser_for("admin")
    assert admin.client.post(f"/settings/crm/brands/{brand_id}/save", data=GOOD).status_code == 403
    assert _config(session) is None


def test_admin_configures_and_the_secret_is_never_shown(browser_for, session, brand_id):
    admin = browser_for("admin")
    assert "not configured" in admin.get("/settings/crm").text
    saved = admin.post(f"/settings/crm/brands/{brand_id}/save", data=GOOD)
    assert saved.status_code == 200 and "CRM lookup saved." in saved.text
    assert "s3cr3t-value-42" not in saved.text and "secret set" in saved.text
    row = _config(session)
    assert (row.endpoint_url, row.secret_header, row.secret_value, row.enabled) == (
        GOOD["endpoint_url"],
        "X-Api-Key",
        "s3cr3t-value-42",
        True,
    )
    # An empty secret keeps the stored one; switching off is kept.
    again = admin.post(
        f"/settings/crm/brands/{brand_id}/save",
        data={**GOOD, "secret": "", "enabled": "", "endpoint_url": "https://crm.example.com/v2"},
    )
    assert again.status_code == 200
    row = _config(session)
    assert row.secret_value == "s3cr3t-value-42" and not row.enabled and row.endpoint_url.endswith("/v2")
    assert admin.post(f"/settings/crm/brands/{brand_id}/remove").status_code == 200
    assert _config(session) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"endpoint_url": "http://crm.example.com/orders"}, "must use HTTPS"),
        ({"endpoint_url": "not a url"}, "must be a full URL"),
        ({"secret_header": "Bad Header"}, "HTTP header name"),
        ({"secret": ""}, "enter the secret"),
    ],
)
def test_bad_input_shows_why_and_changes_nothing(browser_for, session, brand_id, changes, message):
    admin = browser_for("admin")
    response = admin.post(f"/settings/crm/brands/{brand_id}/save", data={**GOOD, **changes})
    assert response.status_code == 400 and message in response.text
    assert "s3cr3t-value-42" not in response.text  # a refused secret is not echoed either
    assert _config(session) is None


def test_bad_input_keeps_the_existing_config(browser_for, session, brand_id):
    admin = browser_for("admin")
    admin.post(f"/settings/crm/brands/{brand_id}/save", data=GOOD)
    bad = admin.post(
        f"/settings/crm/brands/{brand_id}/save", data={**GOOD, "endpoint_url": "ftp://x", "secret": "other"}
    )
    assert bad.status_code == 400
    row = _config(session)
    assert row.endpoint_url == GOOD["endpoint_url"] and row.secret_value == "s3cr3t-value-42"
    assert admin.post("/settings/crm/brands/9999/save", data=GOOD).status_code == 400
    assert admin.post("/settings/crm/brands/9999/remove").status_code == 404


def test_refused_ui_pages_are_html_and_the_api_stays_json(browser_for):
    agent = browser_for("agent")
    page = agent.get("/settings")
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Access denied</h1>" in page.text and "Alice Agent" in page.text
    assert 'href="/"' in page.text
    # htmx requests get a fragment to show in place.
    fragment = agent.get("/ui/supervisor/board", headers={"HX-Request": "true"})
    assert fragment.status_code == 403 and fragment.text.startswith('<div class="flash-error"')
    refused = agent.post("/api/v1/sla-policies", json={"name": "x", "first_response_minutes": 5})
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/json")
    assert "admin" in refused.json()["detail"]
    # Other errors on UI routes are unchanged (a 400 stays JSON for htmx callers).
    assert agent.get("/ui/list?sort=loudest").json()["detail"]


def test_admin_tests_the_connection(browser_for, session, brand_id):
    from socialdesk.customers.fake_crm import running_fake_crm

    admin = browser_for("admin")
    assert admin.post(f"/settings/crm/brands/{brand_id}/test").status_code == 502  # nothing configured
    with running_fake_crm() as fake:
        admin.post(
            f"/settings/crm/brands/{brand_id}/save",
            data={
                "endpoint_url": fake.endpoint,
                "secret_header": fake.header,
                "secret": fake.secret,
                "enabled": "1",
            },
        )
        ok = admin.post(f"/settings/crm/brands/{brand_id}/test")
        assert ok.status_code == 200 and "The CRM answered as the contract says." in ok.text
        assert fake.requests[-1]["body"]["identities"] == []
        fake.fail_next(1, 500)
        failed = admin.post(f"/settings/crm/brands/{brand_id}/test")
        assert failed.status_code == 502 and "HTTP 500" in failed.text
    assert browser_for("agent").post(f"/settings/crm/brands/{brand_id}/test").status_code == 403
