"""Every page the settings and customer-panel routers serve: who may open it, and signed-out visitors."""

from __future__ import annotations

import pytest

from socialdesk.automation.engine import create_rule
from socialdesk.routing.models import BusinessCalendar, SlaPolicy
from socialdesk.web.ui import customer_panel, settings_automation, settings_crm, settings_sla
from tests.web import factories

ROUTERS = (settings_sla.router, settings_automation.router, settings_crm.router, customer_panel.router)
PAGES = {
    "/settings/sla": {"admin"},
    "/settings/sla/policies/new": {"admin"},
    "/settings/sla/policies/{policy}": {"admin"},
    "/settings/sla/calendars/new": {"admin"},
    "/settings/sla/calendars/{calendar}": {"admin"},
    "/settings/automation": {"admin"},
    "/settings/automation/rules/new": {"admin"},
    "/settings/automation/rules/{rule}": {"admin"},
    "/settings/crm": {"admin"},
    "/ui/conversations/{conversation}/orders": {"agent", "supervisor", "admin"},
    "/ui/customers/{customer}/csat": {"agent", "supervisor", "admin"},
}
PARAMS = {
    "policy_id": "policy",
    "calendar_id": "calendar",
    "rule_id": "rule",
    "conversation_id": "conversation",
    "customer_id": "customer",
}


def test_the_table_covers_every_page():
    served = {r.path for router in ROUTERS for r in router.routes if "GET" in getattr(r, "methods", set())}
    listed = set(PAGES)
    for param, name in PARAMS.items():
        served = {p.replace("{" + param + "}", "{" + name + "}") for p in served}
    assert served == listed


@pytest.fixture
def ids(session, people) -> dict[str, int]:
    policy = SlaPolicy(name="P", first_response_minutes=30)
    calendar = BusinessCalendar(name="C", schedule={"mon": [["09:00", "17:00"]]})
    session.add_all([policy, calendar])
    rule = create_rule(
        session, name="R", event="message_created", conditions={}, actions=[{"type": "resolve"}]
    )
    conversation = factories.conversation(session, people["account"])
    session.commit()
    return {
        "policy": policy.id,
        "calendar": calendar.id,
        "rule": rule.id,
        "conversation": conversation.id,
        "customer": conversation.customer_id,
    }


@pytest.mark.parametrize("role", [None, "agent", "supervisor", "admin"])
def test_each_role_opens_exactly_its_pages(browser_for, ids, role):
    b = browser_for(role)
    for path, roles in PAGES.items():
        response = b.get(path.format(**ids), follow_redirects=False)
        if role is None:
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
        else:
            assert response.status_code == (200 if role in roles else 403), (role, path)
