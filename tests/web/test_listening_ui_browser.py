"""Listening, alerts and crisis in a real browser (Debian's Chromium via Playwright): a supervisor
writes a rule with the live preview, is told of an alert as it is raised and acknowledges it,
declares a crisis from it and closes it; an agent cannot open those pages.

One desk and one browser for the module; the tests run in order and build on each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from socialdesk.db.base import utcnow
from socialdesk.db.engine import session_scope
from socialdesk.listening import alerts, service
from socialdesk.listening.models import Alert, Crisis, CrisisConversation, ListeningRule
from socialdesk.listening.spikes import Finding
from tests.web import factories
from tests.web.live import (
    BRAND_X_ID,
    CHROMIUM,
    CHROMIUM_ARGS,
    Desk,
    require_chromium,
    running_desk,
    x_customer_post,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 10_000
TEXTS = [
    "the app crashes every time I open it",
    "App crashed during checkout, lost my basket",
    "crashes again after the update",
    "lovely service, thanks!",
]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    require_chromium()
    with running_desk(tmp_path_factory.mktemp("listening-desk")) as running:
        with session_scope() as session:
            factories.agent(session, "agent", name="Alice Agent", email="alice@example.com")
            factories.agent(session, "supervisor", name="Sam Supervisor", email="sam@example.com")
            factories.team(session, "Crisis desk", slug="crisis-desk", is_crisis=True)
            account = factories.brand_with_account(
                session,
                "x",
                slug="acme-x",
                brand_name="Acme",
                external_id=BRAND_X_ID,
                api_base_url=running.fake.base_url,
                access_token="x-access-token",
            )
            now = utcnow()
            for i, text in enumerate(TEXTS):
                factories.conversation(
                    session, account, text, at=now - timedelta(hours=2 * i + 1), status="open"
                )
        yield running


@pytest.fixture(scope="module")
def browser(desk: Desk) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in(browser: object, desk: Desk, email: str) -> object:
    context = browser.new_context(viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{desk.base_url}/login")
    page.fill("#email", email)
    page.fill("#password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.locator("#conv-list").wait_for()
    return page


@pytest.fixture(scope="module")
def supervisor(browser: object, desk: Desk) -> object:
    return sign_in(browser, desk, "sam@example.com")


def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))  # type: ignore[attr-defined]


def test_a_supervisor_writes_a_rule_with_the_live_preview(supervisor: object, desk: Desk) -> None:
    page = supervisor
    page.click("nav.mainnav >> text=Listening")
    page.click("#new-rule")
    page.select_option("#rule-brand", label="Acme")
    page.fill("#rule-name", "App crashes")
    page.select_option("#rule-kind", "product")
    # A half-written query: the preview says where it is wrong.
    page.locator("#rule-query").press_sequentially("crash* AND (", delay=10)
    error = page.locator("#preview-error")
    error.wait_for()
    assert "position 12" in error.inner_text()
    page.fill("#rule-query", "crash* NOT lovely")
    page.locator("#preview-count").wait_for()
    assert re.search(r"Would have matched 3 in the last 7 days", page.locator("#preview-count").inner_text())
    samples = page.locator("#preview-samples").inner_text()
    assert "lost my basket" in samples and "lovely service" not in samples
    shot(page, "listening-rule-preview.png")
    page.click("#save-rule")
    page.wait_for_url(re.compile(r"/listening/rules/\d+$"))
    assert "App crashes" in page.locator("h1").inner_text()
    with session_scope() as session:
        rule = session.scalar(select(ListeningRule).where(ListeningRule.name == "App crashes"))
        assert rule is not None and (rule.kind, rule.query) == ("product", "crash* NOT lovely")


def test_an_alert_arrives_live_and_is_acknowledged(
    supervisor: object, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alerts, "BACKGROUND_DELIVERY", False)
    page = supervisor
    page.goto(f"{desk.base_url}/alerts")
    page.wait_for_function("document.body.classList.contains('live-on')")
    assert page.locator("#alert-count").count() == 0
    now = utcnow()
    with session_scope() as session:
        rule = session.scalar(select(ListeningRule).where(ListeningRule.name == "App crashes"))
        finding = Finding(f"rule:{rule.id}", now - timedelta(minutes=10), now, 14, 3.0, 8.2, 4.7, "seasonal")
        info = service.RuleInfo(rule.id, rule.brand_id, rule.kind, rule.name, rule.query)
        alerts.raise_spike(session, finding, brand_id=rule.brand_id, rule=info)
    # The commit publishes a live event: a toast, the badge and the list, with no reload.
    toast = page.locator(".toast")
    toast.wait_for()
    assert "Spike in 'App crashes'" in toast.inner_text()
    page.locator("#alert-count").wait_for()
    assert page.locator("#alert-count").inner_text() == "1"
    page.locator("#alerts >> text=Spike in 'App crashes'").wait_for()
    shot(page, "listening-alerts.png")
    page.click("#alerts >> text=Spike in 'App crashes'")
    facts = page.locator("#alert-facts").inner_text()
    assert "14.0 against 3.0 expected" in facts and "4.7×" in facts
    with page.expect_response(lambda r: "/ui/alerts/badge" in r.url):  # the new page's badge
        page.click("#ack-btn")
    page.wait_for_url(re.compile(r"/alerts/\d+$"))
    assert "acknowledged" in page.locator("#alert-status").inner_text()
    assert page.locator("#alert-count").count() == 0
    with session_scope() as session:
        assert session.scalar(select(Alert.status)) == "acknowledged"


def test_a_crisis_is_declared_from_the_alert_and_closed(supervisor: object, desk: Desk) -> None:
    page = supervisor
    page.click("#declare-from-alert")
    page.wait_for_url(re.compile(r"/crisis\?alert_id=\d+$"))
    page.fill("#crisis-name", "App crash wave")
    page.fill("#crisis-statement", "We know the app is crashing and are fixing it now.")
    page.click("#declare-btn")
    page.wait_for_url(re.compile(r"/crisis/\d+$"))
    assert page.locator("#crisis-status").inner_text() == "active"
    # The matching open conversations were routed to the crisis team at once.
    assert "3 conversations routed" in page.locator("#crisis-stats").inner_text()
    # A new matching message arrives by webhook: the open timeline counts it without a reload.
    post = x_customer_post(
        "1960000000000000001", "8801", "angry_ann", "Ann", "@AcmeCare the app crashes on start"
    )
    desk.post_webhook("x", "acme-x", post)
    page.locator("#crisis-stats >> text=1 matching message").wait_for(timeout=30_000)
    assert "4 conversations routed" in page.locator("#crisis-stats").inner_text()
    assert page.locator("#crisis-volume tr").count() == 2  # the header and one bucket
    # An agent on a crisis conversation is offered the holding statement in the reply box.
    with session_scope() as session:
        conversation_id = session.scalar(select(CrisisConversation.conversation_id))
    agent = sign_in(page.context.browser, desk, "alice@example.com")  # type: ignore[attr-defined]
    agent.goto(f"{desk.base_url}/?view=all&c={conversation_id}")
    agent.click("#holding-statement button")
    assert agent.input_value("#reply-text") == "We know the app is crashing and are fixing it now."
    agent.context.close()
    page.fill("#action-text", "Status page updated")
    page.click("#action-btn")
    page.locator("#crisis-events >> text=Status page updated").wait_for()
    shot(page, "listening-crisis.png")
    page.fill("#close-summary", "A bad release; rolled back within the hour.")
    page.click("#close-btn")
    page.locator("#crisis-summary").wait_for()
    assert page.locator("#crisis-status").inner_text() == "closed"
    events = page.locator("#crisis-events").inner_text()
    assert "declared" in events and "closed" in events
    with session_scope() as session:
        row = session.scalar(select(Crisis))
        assert row.status == "closed" and row.summary["text"] == "A bad release; rolled back within the hour."


def test_an_agent_cannot_reach_listening_alerts_or_crisis(browser: object, desk: Desk) -> None:
    page = sign_in(browser, desk, "alice@example.com")
    nav = page.locator("nav.mainnav").inner_text()  # type: ignore[attr-defined]
    assert "Listening" not in nav and "Alerts" not in nav and "Crisis" not in nav
    with session_scope() as session:
        rule_id = session.scalar(select(ListeningRule.id))
        alert_id = session.scalar(select(Alert.id))
        crisis_id = session.scalar(select(Crisis.id))
    for path in (
        "/listening",
        f"/listening/rules/{rule_id}",
        "/alerts",
        f"/alerts/{alert_id}",
        "/crisis",
        f"/crisis/{crisis_id}",
    ):
        response = page.goto(desk.base_url + path)  # type: ignore[attr-defined]
        assert response.status == 403, path
    page.context.close()  # type: ignore[attr-defined]
