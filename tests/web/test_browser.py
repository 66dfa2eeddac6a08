"""The desk in a real browser (Debian's Chromium via Playwright): an agent's day, end to end.

One desk and one browser for the module; the tests run in order and build on each other
(the conversations the first test receives are the ones the later tests answer).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from socialdesk.assist.models import ReplyTemplate
from socialdesk.conversations.models import Conversation
from socialdesk.db.engine import session_scope
from socialdesk.routing.models import Agent
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


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    require_chromium()
    with running_desk(tmp_path_factory.mktemp("desk")) as running:
        with session_scope() as session:
            care = factories.team(session, "Care", slug="care")
            alice = factories.agent(session, "agent", name="Alice Agent", email="alice@example.com")
            factories.agent(
                session, "agent", name="Bob Agent", email="bob@example.com", availability="offline"
            )
            factories.agent(session, "supervisor", name="Sam Supervisor", email="sam@example.com")
            factories.agent(session, "admin", name="Ada Admin", email="ada@example.com")
            care.agents.append(alice)
            factories.brand_with_account(
                session,
                "x",
                slug="acme-x",
                external_id=BRAND_X_ID,
                handle="AcmeCare",
                api_base_url=running.fake.base_url,
                access_token="x-access-token",
                brand_name="Acme",
            )
            session.add(
                ReplyTemplate(
                    name="Apology",
                    shortcode="sorry",
                    default_locale="en",
                    approval="approved",
                    bodies={"en": "Hi {{ customer.first_name }}, sorry about that. We are on it."},
                )
            )
        yield running


@pytest.fixture(scope="module")
def browser(desk: Desk) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in(browser: object, desk: Desk, email: str, *, width: int = 1440) -> object:
    context = browser.new_context(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{desk.base_url}/login")
    page.fill("#email", email)
    page.fill("#password", factories.PASSWORD)
    page.click("button[type=submit]")
    try:
        page.locator("#conv-list").wait_for()
    except Exception:
        print("DEBUG", page.url, page.locator("body").inner_text()[:500])
        raise
    return page


@pytest.fixture(scope="module")
def agent_page(browser: object, desk: Desk) -> object:
    return sign_in(browser, desk, "alice@example.com")


def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    # The views column refreshes its counts 0.7 s after the list settles; picture it after.
    page.wait_for_timeout(1200)  # type: ignore[attr-defined]
    page.screenshot(path=str(ARTIFACTS / name))  # type: ignore[attr-defined]


def test_a_bad_password_gets_a_clear_message(browser: object, desk: Desk) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{desk.base_url}/login")
    page.fill("#email", "alice@example.com")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert page.locator("#login-error").inner_text() == "Wrong e-mail address or password."
    assert page.url.endswith("/login")
    page.close()


def test_the_inbox_fills_live_from_webhooks(agent_page: object, desk: Desk) -> None:
    page = agent_page
    assert page.locator("li.empty").count() == 1  # type: ignore[attr-defined]
    page.evaluate("window.__no_reload = true")  # type: ignore[attr-defined]
    desk.post_webhook(
        "x",
        "acme-x",
        x_customer_post(
            "1900000000000000001",
            "501",
            "dana_m",
            "Dana Miller",
            "@AcmeCare my parcel never arrived, order 4471. Where is it?",
        ),
    )
    desk.post_webhook(
        "x",
        "acme-x",
        x_customer_post(
            "1900000000000000002",
            "502",
            "lee_k",
            "Lee Kim",
            "@AcmeCare the app crashes when I open my basket",
        ),
    )
    desk.post_webhook(
        "x",
        "acme-x",
        x_customer_post(
            "1900000000000000003",
            "503",
            "sam_r",
            "Sami Ruiz",
            "@AcmeCare how do I change my delivery address?",
        ),
    )
    rows = page.locator("#conv-list li.conv")  # type: ignore[attr-defined]
    rows.nth(2).wait_for()
    assert rows.count() == 3
    assert page.evaluate("window.__no_reload") is True  # live, not reloaded  # type: ignore[attr-defined]
    text = page.locator("#conv-list").inner_text()  # type: ignore[attr-defined]
    assert "Dana Miller" in text and "parcel never arrived" in text and "@lee_k" in text
    shot(page, "inbox.png")


def test_open_conversation_canned_response_counter_and_send(agent_page: object, desk: Desk) -> None:
    page = agent_page
    page.locator("#conv-list li.conv", has_text="Dana Miller").click()  # type: ignore[attr-defined]
    page.locator("#conversation h1", has_text="Dana Miller").wait_for()  # type: ignore[attr-defined]
    assert "parcel never arrived" in page.locator("#thread").inner_text()  # type: ignore[attr-defined]
    box = page.locator("#reply-text")  # type: ignore[attr-defined]
    # An over-long X reply: the counter shows the real limit and stops the send.
    box.fill("a" * 281)
    assert page.locator("#counter").inner_text() == "281 / 280"  # type: ignore[attr-defined]
    assert "over" in (page.locator("#counter").get_attribute("class") or "")  # type: ignore[attr-defined]
    assert page.locator("#send-btn").is_disabled()  # type: ignore[attr-defined]
    # A canned response by shortcode, rendered for this customer.
    box.fill("")
    box.press_sequentially("/sor")
    page.locator(".canned-option", has_text="/sorry").click()  # type: ignore[attr-defined]
    assert box.input_value() == "Hi Dana, sorry about that. We are on it."
    assert not page.locator("#send-btn").is_disabled()  # type: ignore[attr-defined]
    shot(page, "conversation.png")
    page.click("#send-btn")  # type: ignore[attr-defined]
    page.locator("#flash", has_text="Reply queued").wait_for()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while not any(r.get("path") == "/2/tweets" for r in desk.fake.requests) and time.monotonic() < deadline:
        time.sleep(0.1)
    sent = [r for r in desk.fake.requests if r.get("path") == "/2/tweets"]
    assert sent, desk.fake.requests
    assert "Hi Dana, sorry about that" in str(sent[-1])
    # The sent reply shows in the thread, live.
    page.locator("#thread .msg.outbound", has_text="sorry about that").wait_for()  # type: ignore[attr-defined]


def test_resolve_with_the_keyboard(agent_page: object) -> None:
    page = agent_page
    page.locator("#thread").click()  # type: ignore[attr-defined]
    page.keyboard.press("e")  # type: ignore[attr-defined]
    page.locator("#conv-status", has_text="resolved").wait_for()  # type: ignore[attr-defined]
    with session_scope() as session:
        dana = session.scalar(select(Conversation).where(Conversation.subject.like("%parcel%")))
        assert dana is not None and dana.status == "resolved"


def test_j_k_move_through_the_list_and_question_mark_shows_help(agent_page: object) -> None:
    page = agent_page
    page.goto(page.url.split("?")[0])  # type: ignore[attr-defined]
    page.keyboard.press("j")  # type: ignore[attr-defined]
    first = page.locator("#conv-list li.conv").first.get_attribute("data-id")  # type: ignore[attr-defined]
    page.locator(f"#conversation[data-id='{first}']").wait_for()  # type: ignore[attr-defined]
    page.keyboard.press("j")  # type: ignore[attr-defined]
    second = page.locator("#conv-list li.conv").nth(1).get_attribute("data-id")  # type: ignore[attr-defined]
    page.locator(f"#conversation[data-id='{second}']").wait_for()  # type: ignore[attr-defined]
    page.keyboard.press("?")  # type: ignore[attr-defined]
    assert page.locator("#help-dialog").is_visible()  # type: ignore[attr-defined]
    page.keyboard.press("Escape")  # type: ignore[attr-defined]


def test_search_finds_messages_and_customers(agent_page: object) -> None:
    page = agent_page
    page.locator("#thread").click()  # type: ignore[attr-defined]
    page.keyboard.press("/")  # type: ignore[attr-defined]
    page.keyboard.type("crash basket")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r".*/search\?q=crash"))  # type: ignore[attr-defined]
    assert "crashes when I open my [basket]" in page.locator("#message-results").inner_text() or (
        "basket" in page.locator("#message-results").inner_text()  # type: ignore[attr-defined]
    )
    assert page.locator("#message-results tr.hit").count() == 1  # type: ignore[attr-defined]
    page.goto(page.url.split("/search")[0] + "/search?q=lee_k")  # type: ignore[attr-defined]
    assert "Lee Kim" in page.locator("#customer-results").inner_text()  # type: ignore[attr-defined]


def test_supervisor_bulk_assigns_and_watches_the_board(browser: object, desk: Desk) -> None:
    page = sign_in(browser, desk, "sam@example.com")
    rows = page.locator("#conv-list li.conv")  # type: ignore[attr-defined]
    rows.first.wait_for()
    assert rows.count() == 2  # the resolved one left the open view
    for i in range(2):
        rows.nth(i).locator("input[name=ids]").check()
    page.locator("#bulkbar").wait_for()  # type: ignore[attr-defined]
    page.select_option("#bulkbar select[name=action]", "assign")  # type: ignore[attr-defined]
    page.select_option("#bulkbar select[name=agent_id]", label="Bob Agent")  # type: ignore[attr-defined]
    page.click("#bulkbar button[type=submit]")  # type: ignore[attr-defined]
    page.locator("#bulk-result", has_text="2 conversations changed").wait_for()  # type: ignore[attr-defined]
    with session_scope() as session:
        bob = session.scalar(select(Agent).where(Agent.email == "bob@example.com"))
        open_ones = session.scalars(select(Conversation).where(Conversation.status != "resolved")).all()
        assert {c.assignee_id for c in open_ones} == {bob.id}
    page.locator("#conv-list", has_text="Bob Agent").wait_for()  # type: ignore[attr-defined]
    page.goto(f"{desk.base_url}/supervisor")  # type: ignore[attr-defined]
    assert "Bob Agent" in page.locator("#agents").inner_text()  # type: ignore[attr-defined]
    assert "x" in page.locator("#volume").inner_text()  # type: ignore[attr-defined]
    shot(page, "supervisor.png")
    page.context.close()  # type: ignore[attr-defined]


def test_each_role_sees_only_what_it_may(browser: object, desk: Desk, agent_page: object) -> None:
    nav = agent_page.locator("nav.mainnav").inner_text()  # type: ignore[attr-defined]
    assert "Inbox" in nav and "Supervisor" not in nav and "Settings" not in nav
    for path in ("/settings", "/supervisor"):
        response = agent_page.goto(desk.base_url + path)  # type: ignore[attr-defined]
        assert response.status == 403
    supervisor = sign_in(browser, desk, "sam@example.com")
    nav = supervisor.locator("nav.mainnav").inner_text()  # type: ignore[attr-defined]
    assert "Supervisor" in nav and "Settings" not in nav
    assert supervisor.goto(desk.base_url + "/settings").status == 403  # type: ignore[attr-defined]
    admin = sign_in(browser, desk, "ada@example.com")
    assert "Settings" in admin.locator("nav.mainnav").inner_text()  # type: ignore[attr-defined]
    admin.goto(desk.base_url + "/settings?section=brands")  # type: ignore[attr-defined]
    page_text = admin.content()  # type: ignore[attr-defined]
    assert "app_secret set" in admin.locator("main").inner_text()  # type: ignore[attr-defined]
    assert "x-access-token" not in page_text and "app-secret" not in page_text  # secrets are write-only


def test_a_tablet_gets_the_list_and_the_conversation_without_sideways_scrolling(
    browser: object, desk: Desk
) -> None:
    page = sign_in(browser, desk, "alice@example.com", width=1024)
    page.set_viewport_size({"width": 1024, "height": 768})  # type: ignore[attr-defined]
    page.locator("#conv-list li.conv").first.click()  # type: ignore[attr-defined]
    page.locator("#reply-text").wait_for()  # type: ignore[attr-defined]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # type: ignore[attr-defined]
    assert page.locator("#conv-list").is_visible() and page.locator("#send-btn").is_visible()  # type: ignore[attr-defined]
    page.context.close()  # type: ignore[attr-defined]
