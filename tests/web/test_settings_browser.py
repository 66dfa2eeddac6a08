"""Settings and the customer panel in a real browser (Debian's Chromium via Playwright).

An admin edits an SLA policy and a team's business hours, creates an automation rule and runs
its dry run, and points the brand at the (local, fake) CRM; an agent then sees the customer's
orders from that CRM and their CSAT history, and gets the HTML access-denied page on settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from socialdesk.analytics.models import CsatSurvey
from socialdesk.automation.models import AutomationRule, AutomationRun
from socialdesk.customers.fake_crm import RunningFakeCrm, running_fake_crm
from socialdesk.customers.models import CrmConfig
from socialdesk.db.engine import session_scope
from socialdesk.routing.models import BusinessCalendar, SlaPolicy
from tests.web import factories
from tests.web.live import CHROMIUM, CHROMIUM_ARGS, Desk, require_chromium, running_desk

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def crm_server() -> Iterator[RunningFakeCrm]:
    with running_fake_crm() as running:
        yield running


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Desk, dict[str, Any]]]:
    require_chromium()
    with running_desk(tmp_path_factory.mktemp("settings-desk")) as running:
        with session_scope() as session:
            care = factories.team(session, "Care", slug="care", timezone="Europe/Berlin")
            alice = factories.agent(session, "agent", name="Alice Agent", email="alice@example.com")
            factories.agent(session, "admin", name="Ada Admin", email="ada@example.com")
            care.agents.append(alice)
            account = factories.brand_with_account(session, "x", slug="acme-x", brand_name="Acme")
            policy = SlaPolicy(name="Standard", first_response_minutes=60, resolution_minutes=1440)
            session.add(policy)
            refund = factories.conversation(
                session,
                account,
                "I want a refund, the blender broke",
                customer_name="Dana Miller",
                handle="dana_m",
            )
            factories.conversation(session, account, "how do I reset my password", customer_name="Lee Kim")
            older = factories.conversation(session, account, "late parcel", customer_name="Dana Miller")
            older.customer_id = refund.customer_id
            now = datetime.now(UTC)
            session.add(
                CsatSurvey(
                    conversation_id=older.id,
                    customer_id=refund.customer_id,
                    status="answered",
                    sent_at=now - timedelta(days=9),
                    rating=4,
                    comment="quick and friendly",
                    answered_at=now - timedelta(days=8),
                    answered_via="reply",
                )
            )
            session.flush()
            ids = {
                "policy": policy.id,
                "team": care.id,
                "brand": account.brand_id,
                "refund": refund.id,
                "customer": refund.customer_id,
                "identity": refund.customer.identities[0].external_user_id,
            }
        yield running, ids


@pytest.fixture(scope="module")
def browser(desk: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in(browser: Any, desk: Desk, email: str) -> Any:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{desk.base_url}/login")
    page.fill("#email", email)
    page.fill("#password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.locator("#conv-list").wait_for()
    return page


@pytest.fixture(scope="module")
def admin(browser: Any, desk: Any) -> Any:
    return sign_in(browser, desk[0], "ada@example.com")


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_admin_edits_an_sla_policy(admin: Any, desk: Any) -> None:
    running, ids = desk
    admin.goto(f"{running.base_url}/settings")
    admin.click("nav.settings-nav >> text=SLA policies and business hours")
    admin.click(f"tr[data-policy-id='{ids['policy']}'] >> text=Edit")
    admin.fill("#first_response_minutes", "30")
    admin.fill("#next_response_minutes", "45")
    admin.select_option("#priority", "high")
    admin.check("#business_hours")
    # A bad value first: the form says why and nothing is saved.
    admin.fill("#resolution_minutes", "a day")
    admin.click("#policy-form button[type=submit]")
    assert "resolution target must be a whole number" in admin.locator("#settings-error").inner_text()
    assert admin.locator("#first_response_minutes").input_value() == "30"  # what was typed is kept
    with session_scope() as session:
        assert session.get(SlaPolicy, ids["policy"]).first_response_minutes == 60
    admin.fill("#resolution_minutes", "480")
    admin.click("#policy-form button[type=submit]")
    admin.locator("#settings-ok", has_text="SLA policy Standard saved.").wait_for()
    row = admin.locator(f"tr[data-policy-id='{ids['policy']}']").inner_text()
    assert "30 min" in row and "45 min" in row and "480 min" in row and "business hours" in row
    with session_scope() as session:
        p = session.get(SlaPolicy, ids["policy"])
        assert (p.priority, p.first_response_minutes, p.resolution_minutes, p.business_hours) == (
            "high",
            30,
            480,
            True,
        )


def test_admin_sets_the_teams_business_hours(admin: Any, desk: Any) -> None:
    running, ids = desk
    admin.goto(f"{running.base_url}/settings/sla")
    admin.click("#new-calendar")
    admin.fill("#name", "Care Berlin")
    admin.select_option("#team_id", label="Care")
    admin.fill("#timezone", "Europe/Berlin")
    admin.fill("#day_fri", "09:00-15:00")
    admin.fill("#day_sat", "10:00-14:00")
    admin.fill("#holiday_country", "DE")
    admin.fill("#closed_days", "2026-12-24\n2026-12-31")
    admin.click("#calendar-form button[type=submit]")
    admin.locator("#settings-ok", has_text="Business hours Care Berlin saved.").wait_for()
    text = admin.locator("#business-hours").inner_text()
    assert "Care Berlin" in text and "sat 10:00–14:00" in text and "2026-12-24" in text and "DE" in text
    # Edit: the Saturday shift goes; a bad timezone is refused first.
    admin.click("#business-hours >> text=Edit")
    admin.fill("#day_sat", "")
    admin.fill("#timezone", "Berlin")
    admin.click("#calendar-form button[type=submit]")
    assert "unknown timezone" in admin.locator("#settings-error").inner_text()
    admin.fill("#timezone", "Europe/Berlin")
    admin.click("#calendar-form button[type=submit]")
    admin.locator("#settings-ok", has_text="Care Berlin saved").wait_for()
    with session_scope() as session:
        row = session.scalar(select(BusinessCalendar))
        assert row.team_id == ids["team"] and "sat" not in row.schedule
        assert row.schedule["fri"] == [["09:00", "15:00"]] and row.closed_days == ["2026-12-24", "2026-12-31"]
    shot(admin, "settings-sla.png")


def test_admin_creates_an_automation_rule_and_runs_its_dry_run(admin: Any, desk: Any) -> None:
    running, ids = desk
    admin.goto(f"{running.base_url}/settings/automation")
    admin.click("#new-rule")
    admin.fill("#name", "Refunds are urgent")
    admin.select_option("#event", "message_created")
    # platform is x AND (text contains refund OR text contains money back)
    admin.select_option("#g0_field_0", "platform")
    admin.select_option("#g0_op_0", "eq")
    admin.fill("#g0_value_0", "x")
    admin.select_option("#g1_mode", "any")
    admin.select_option("#g1_field_0", "text")
    admin.select_option("#g1_op_0", "contains")
    admin.fill("#g1_value_0", "refund")
    admin.select_option("#g1_field_1", "text")
    admin.select_option("#g1_op_1", "contains")
    admin.fill("#g1_value_1", "money back")
    admin.select_option("#action_0", "set_priority")
    admin.fill("#param_0", "urgent")
    admin.select_option("#action_1", "add_label")
    admin.fill("#param_1", "refund")
    # Try the unsaved conditions first: the editor comes back as typed, with the matches.
    admin.click("#try-rule")
    admin.locator("#dry-run-summary", has_text="1 of 3 past message_created events").wait_for()
    assert admin.locator("#g1_value_1").input_value() == "money back"
    shot(admin, "settings-automation-rule.png")
    with session_scope() as session:
        assert session.scalar(select(AutomationRule)) is None
    admin.click("#rule-form button.primary")
    admin.locator("#settings-ok", has_text="Automation rule Refunds are urgent saved.").wait_for()
    with session_scope() as session:
        rule = session.scalar(select(AutomationRule))
        assert rule.conditions == {
            "all": [
                {"all": [{"field": "platform", "op": "eq", "value": "x"}]},
                {
                    "any": [
                        {"field": "text", "op": "contains", "value": "refund"},
                        {"field": "text", "op": "contains", "value": "money back"},
                    ]
                },
            ]
        }
        rule_id = rule.id
    row = admin.locator(f"tr[data-rule-id='{rule_id}']")
    row.locator("button.dry-run").click()
    summary = admin.locator("#dry-run-summary")
    summary.wait_for()
    assert "1 of 3 past message_created events" in summary.inner_text()
    matches = admin.locator("#dry-run-matches").inner_text()
    assert f"#{ids['refund']}" in matches and "Dana Miller" in matches and "password" not in matches
    shot(admin, "settings-automation-dry-run.png")
    with session_scope() as session:
        assert session.scalar(select(AutomationRun)) is None  # a dry run changes nothing
    # Disable, then enable again.
    admin.locator(f"tr[data-rule-id='{rule_id}'] button.toggle").click()
    admin.locator("#settings-ok", has_text="disabled").wait_for()
    with session_scope() as session:
        assert session.get(AutomationRule, rule_id).active is False


def test_admin_points_the_brand_at_the_crm(admin: Any, desk: Any, crm_server: RunningFakeCrm) -> None:
    running, ids = desk
    admin.goto(f"{running.base_url}/settings/crm")
    form = admin.locator("tr[data-brand] form.crm-form")
    form.locator("input[name=endpoint_url]").fill(crm_server.endpoint)
    form.locator("input[name=secret_header]").fill(crm_server.header)
    form.locator("input[name=secret]").fill(crm_server.secret)
    form.locator("button[type=submit]").click()
    admin.locator("#settings-ok", has_text="CRM lookup saved.").wait_for()
    assert "secret set" in admin.locator("#crm-settings").inner_text()
    assert crm_server.secret not in admin.content()  # write-only
    with session_scope() as session:
        assert session.scalar(select(CrmConfig)).brand_id == ids["brand"]


def test_agent_sees_orders_from_the_crm_and_the_csat_history(
    browser: Any, desk: Any, crm_server: RunningFakeCrm
) -> None:
    running, ids = desk
    crm_server.add_orders(
        f"x:{ids['identity']}",
        [
            {"id": "A-1001", "status": "delivered", "total": 89.0, "currency": "EUR", "date": "2026-10-02"},
            {
                "id": "A-1042",
                "status": "refund requested",
                "total": "149.99",
                "currency": "EUR",
                "date": "2026-11-18",
                "link": "https://shop.example/orders/A-1042",
            },
        ],
    )
    page = sign_in(browser, running, "alice@example.com")
    # Opened from the list: the pane arrives by htmx and then loads the orders and answers.
    page.locator("#conv-list li.conv", has_text="blender").click()
    table = page.locator("#orders-table")
    table.wait_for()
    rows = table.locator("tr.order")
    assert rows.count() == 2
    assert "A-1042" in rows.nth(0).inner_text() and "149.99 EUR" in rows.nth(0).inner_text()
    assert (
        page.locator("#orders a", has_text="A-1042").get_attribute("href")
        == "https://shop.example/orders/A-1042"
    )
    csat = page.locator("#csat-body")
    csat.locator("#csat-average").wait_for()
    assert "Average 4.0 / 5 over 1 answer" in csat.inner_text() and "quick and friendly" in csat.inner_text()
    assert crm_server.requests[-1]["authorized"] is True
    page.locator("aside.side").screenshot(path=str(ARTIFACTS / "customer-panel.png"))
    # The CRM going down shows as such (after the short cache of the good answer).
    from socialdesk.customers import crm

    crm.cache.clear()
    crm_server.fail_next(1, 503)
    page.goto(f"{running.base_url}/?view=all_open&c={ids['refund']}")
    page.locator("#orders-state", has_text="CRM unreachable").wait_for()
    page.context.close()


def test_agent_gets_the_html_access_denied_page_on_settings(browser: Any, desk: Any) -> None:
    running, _ = desk
    page = sign_in(browser, running, "alice@example.com")
    for path in ("/settings", "/settings/sla", "/settings/automation", "/settings/crm"):
        response = page.goto(running.base_url + path)
        assert response.status == 403
        assert response.headers["content-type"].startswith("text/html")
        assert page.locator("#access-denied h1").inner_text() == "Access denied"
        assert "needs the role admin" in page.locator("#access-denied").inner_text()
    shot(page, "access-denied.png")
    page.click("#access-denied >> text=Back to the inbox")
    page.locator("#conv-list").wait_for()
    page.context.close()
