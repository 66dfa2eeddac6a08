"""The analytics dashboard in a real browser (Debian's Chromium via Playwright): charts with data."""

from __future__ import annotations

import csv
import io

import pytest

from socialdesk.analytics import surveys
from socialdesk.auth.passwords import hash_password
from socialdesk.auth.service import create_token
from socialdesk.routing.models import Agent, SlaPolicy
from tests import factories
from tests.analytics.factories import at, customer, timeline
from tests.web.factories import PASSWORD
from tests.web.live import CHROMIUM, CHROMIUM_ARGS, require_chromium, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def seeded(session):
    brand = factories.brand(session, "acme")
    x = factories.account(session, "x", brand_obj=brand)
    ig = factories.account(session, "instagram", brand_obj=brand)
    ann = Agent(email="ann@acme.test", name="Ann", role="agent")
    # A supervisor who signs in like a person: the page's shared layout (alert badge) asks
    # for the session cookie, not a bearer token.
    sam = Agent(email="sam@acme.test", name="Sam", role="supervisor", password_hash=hash_password(PASSWORD))
    policy = SlaPolicy(name="15 min first response", first_response_minutes=15)
    session.add_all([ann, sam, policy])
    session.flush()
    for i, (acct, lang, country) in enumerate([(x, "en", "US"), (ig, "de", "DE"), (x, "de", "AT")]):
        conv = timeline(
            session,
            acct,
            [
                ("assigned", at("09:00", day=2 + i), ann.id),
                ("in", at("09:00", day=2 + i), "negative"),
                ("out", at("09:10", day=2 + i), ann.id),
                ("in", at("09:20", day=2 + i), "positive"),
                ("status", at("10:00", day=2 + i), "resolved"),
            ],
            customer_obj=customer(session, country=country),
            language=lang,
            sla_policy_id=policy.id,
        )
        conv.issue_type = ("order_status", "refund", "order_status")[i]
        survey = surveys.on_resolved(session, conv, at("10:00", day=2 + i))
        surveys.answer(session, survey, 5 - i, via="page", at=at("10:30", day=2 + i))
    token = create_token(session, "dashboard", role="supervisor")
    session.commit()
    return token


def test_dashboard_renders_charts_with_data_and_csv_links(app, seeded):
    require_chromium()
    from playwright.sync_api import sync_playwright

    with serve(app) as base_url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{base_url}/login")
            page.fill("#email", "sam@acme.test")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            response = page.goto(f"{base_url}/analytics?since=2026-11-01&until=2026-11-08")
            assert response is not None and response.status == 200
            assert page.locator("h1").first.inner_text() == "Analytics"
            assert page.locator("[data-kpi=conversations]").inner_text() == "3"
            assert page.locator("[data-kpi=frt_median]").inner_text() == "10m 00s"
            charts = page.locator("figure svg.chart:not(.empty)")
            assert charts.count() == 7  # every chart has data
            platform_lines = page.locator("#chart-volume-platform polyline.series")
            assert sorted(platform_lines.evaluate_all("els => els.map(e => e.dataset.series)")) == [
                "instagram",
                "x",
            ]
            assert page.locator("#chart-frt rect.chart-bar").count() == 6
            issues = page.locator("#chart-issues rect.chart-bar").evaluate_all(
                "els => els.map(e => e.dataset.label)"
            )
            assert issues == ["order_status", "refund"]
            assert "Ann" in page.locator("#agents-table").inner_text()
            assert page.locator("#languages-table tbody tr").count() == 2
            assert page.locator("#countries-table tbody tr").count() == 3
            # Each chart's CSV link downloads its data with the page's filters.
            href = page.locator("#chart-issues a", has_text="CSV").get_attribute("href")
            exported = context.request.get(f"{base_url}{href}")
            assert exported.status == 200
            rows = list(csv.DictReader(io.StringIO(exported.text())))
            assert {r["key"]: r["conversations"] for r in rows} == {"order_status": "2", "refund": "1"}
            # Filter controls: choose a platform and apply.
            page.select_option("select[name=platform]", "instagram")
            page.click("button:has-text('Apply')")
            page.wait_for_url("**platform=instagram**")
            assert page.locator("[data-kpi=conversations]").inner_text() == "1"
        finally:
            browser.close()


def test_dashboard_needs_a_supervisor(client, session, seeded):
    agent_token = create_token(session, "agent", role="agent")
    session.commit()
    assert client.get("/analytics", headers={"Authorization": f"Bearer {agent_token}"}).status_code == 403
    anonymous = client.get("/analytics", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
