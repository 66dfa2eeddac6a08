"""The customer panel's orders (from the brand's CRM, here the local fake) and CSAT history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from socialdesk.analytics.models import CsatSurvey
from socialdesk.auth.service import Principal
from socialdesk.customers import crm
from socialdesk.customers.fake_crm import RunningFakeCrm, running_fake_crm
from socialdesk.customers.models import Identity
from tests.web import factories

ADMIN = Principal(name="Ada", role="admin", agent_id=None)


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFakeCrm]:
    with running_fake_crm() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_cache(fake: RunningFakeCrm) -> Iterator[None]:
    crm.cache.clear()
    fake.fail_next(0)
    yield
    crm.cache.clear()


@pytest.fixture
def conversation(session, people):
    c = factories.conversation(
        session, people["account"], "where is order 4471?", customer_name="Dana Miller"
    )
    session.commit()
    return c


def _configure(session, people, fake) -> None:
    crm.save_config(
        session,
        people["account"].brand_id,
        endpoint_url=fake.endpoint,
        secret_header=fake.header,
        secret=fake.secret,
        actor=ADMIN,
    )
    session.commit()


def test_the_pane_loads_the_orders_and_csat_after_it_shows(browser_for, conversation):
    pane = browser_for("agent").get(f"/ui/conversations/{conversation.id}").text
    assert f'hx-get="/ui/conversations/{conversation.id}/orders"' in pane
    assert f'hx-get="/ui/customers/{conversation.customer_id}/csat"' in pane
    assert "No order lookup is configured" not in pane  # the placeholder is replaced


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
def test_every_role_sees_orders_from_the_crm(browser_for, session, people, fake, conversation, role):
    _configure(session, people, fake)
    identity = session.scalar(select(Identity).where(Identity.customer_id == conversation.customer_id))
    fake.add_orders(
        f"x:{identity.external_user_id}",
        [
            {
                "id": "4471",
                "status": "shipped",
                "total": 1234.5,
                "currency": "EUR",
                "date": "2026-11-20",
                "link": "https://shop.example/orders/4471",
            }
        ],
    )
    html = browser_for(role).get(f"/ui/conversations/{conversation.id}/orders").text
    assert 'data-state="ok"' in html
    assert 'href="https://shop.example/orders/4471"' in html and "shipped" in html
    assert "1,234.50 EUR" in html and "2026-11-20" in html
    assert fake.requests[-1]["authorized"] is True


def test_not_configured_and_unreachable_are_clear(browser_for, session, people, fake, conversation):
    agent = browser_for("agent")
    html = agent.get(f"/ui/conversations/{conversation.id}/orders").text
    assert 'data-state="not_configured"' in html and "CRM not configured" in html
    assert "/settings/crm" not in html  # the set-up link is for admins
    assert "/settings/crm" in browser_for("admin").get(f"/ui/conversations/{conversation.id}/orders").text
    _configure(session, people, fake)
    fake.fail_next(1, 502)
    html = agent.get(f"/ui/conversations/{conversation.id}/orders").text
    assert 'data-state="unreachable"' in html and "CRM unreachable" in html and "HTTP 502" in html


def test_panel_fragments_need_a_session_and_know_404(browser_for, conversation):
    anonymous = browser_for()
    for url in (
        f"/ui/conversations/{conversation.id}/orders",
        f"/ui/customers/{conversation.customer_id}/csat",
    ):
        assert anonymous.get(url, follow_redirects=False).status_code == 303
    agent = browser_for("agent")
    assert agent.get("/ui/conversations/99999/orders").status_code == 404
    assert agent.get("/ui/customers/99999/csat").status_code == 404


def test_the_csat_history_shows_answers_newest_first(browser_for, session, people, conversation):
    earlier = factories.conversation(session, people["account"], "older issue", customer_name="Dana Miller")
    now = datetime.now(UTC)
    for c, rating, comment, days in ((earlier, 2, "slow answer", 30), (conversation, 5, "great help", 1)):
        session.add(
            CsatSurvey(
                conversation_id=c.id,
                customer_id=conversation.customer_id,
                status="answered",
                sent_at=now - timedelta(days=days, hours=1),
                rating=rating,
                comment=comment,
                answered_at=now - timedelta(days=days),
                answered_via="reply",
            )
        )
    # Sent but never answered: not part of the history.
    unanswered = factories.conversation(session, people["account"], "third", customer_name="Dana Miller")
    session.add(
        CsatSurvey(conversation_id=unanswered.id, customer_id=conversation.customer_id, status="sent")
    )
    session.commit()
    html = browser_for("agent").get(f"/ui/customers/{conversation.customer_id}/csat").text
    assert "Average 3.5 / 5 over 2 answers" in html
    assert html.index("great help") < html.index("slow answer")
    assert "★★★★★" in html and "★★☆☆☆" in html
    assert f"c={earlier.id}" in html and f"c={unanswered.id}" not in html


def test_no_answers_yet(browser_for, conversation):
    html = browser_for("agent").get(f"/ui/customers/{conversation.customer_id}/csat").text
    assert "No survey answers yet." in html
