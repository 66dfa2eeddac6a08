"""Settings → automation rules: the editor's AND/OR groups, switching on/off, dry run; admin only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from socialdesk.automation.engine import create_rule
from socialdesk.automation.models import AutomationRule, AutomationRun
from socialdesk.conversations.models import Conversation
from socialdesk.web.ui.settings_automation import conditions_from_form, tree_to_groups
from tests.web import factories

RULE = {
    "name": "Refunds to care",
    "event": "message_created",
    "position": "10",
    "active": "1",
    "join": "all",
    # platform is x AND (text contains refund OR text contains money back)
    "g0_mode": "all",
    "g0_field_0": "platform",
    "g0_op_0": "eq",
    "g0_value_0": "x",
    "g1_mode": "any",
    "g1_field_0": "text",
    "g1_op_0": "contains",
    "g1_value_0": "refund",
    "g1_field_1": "text",
    "g1_op_1": "contains",
    "g1_value_1": "money back",
    "action_0": "add_label",
    "param_0": "refund, billing",
    "action_1": "set_priority",
    "param_1": "high",
}
TREE = {
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


def _rules(session) -> list[AutomationRule]:
    session.expire_all()
    return list(session.scalars(select(AutomationRule).order_by(AutomationRule.id)))


@pytest.fixture
def rule(session):
    r = create_rule(
        session,
        name="Label refunds",
        event="message_created",
        conditions={"field": "text", "op": "contains", "value": "refund"},
        actions=[{"type": "add_label", "labels": ["refund"]}],
    )
    session.commit()
    return r


def test_the_form_builds_and_reads_back_and_or_trees():
    form = {k: v for k, v in RULE.items() if k.startswith(("g", "join"))}
    assert conditions_from_form(form) == TREE
    join, groups = tree_to_groups(TREE)
    assert join == "all" and [g.mode for g in groups] == ["all", "any"]
    assert groups[1].tests[1] == {"field": "text", "op": "contains", "value": "money back"}
    assert conditions_from_form(
        {
            "g0_mode": "any",
            "g0_field_0": "urgency",
            "g0_op_0": "gte",
            "g0_value_0": "70",
            "g0_field_1": "vip",
            "g0_op_1": "is",
            "g0_value_1": "true",
        }
    ) == {
        "any": [{"field": "urgency", "op": "gte", "value": 70}, {"field": "vip", "op": "is", "value": True}]
    }
    assert conditions_from_form({}) == {}
    deep = {"all": [{"any": [{"all": [{"field": "vip", "op": "is", "value": True}]}]}]}
    assert tree_to_groups(deep) is None  # shown as JSON instead


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_only_admins_see_and_change_rules(browser_for, session, rule, role):
    b = browser_for(role)
    for url in (
        "/settings/automation",
        "/settings/automation/rules/new",
        f"/settings/automation/rules/{rule.id}",
    ):
        response = b.get(url)
        assert response.status_code == 403 and "Access denied" in response.text, url
    assert b.post("/settings/automation/rules/new", data=RULE).status_code == 403
    assert b.post(f"/settings/automation/rules/{rule.id}/edit", data=RULE).status_code == 403
    assert b.post(f"/settings/automation/rules/{rule.id}/toggle", data={"active": "0"}).status_code == 403
    assert b.post(f"/settings/automation/rules/{rule.id}/delete").status_code == 403
    assert b.post(f"/settings/automation/rules/{rule.id}/dry-run").status_code == 403
    rules = _rules(session)
    assert len(rules) == 1 and rules[0].active and rules[0].name == "Label refunds"


def test_writes_need_the_csrf_token(browser_for, session, rule):
    admin = browser_for("admin")
    assert admin.client.post("/settings/automation/rules/new", data=RULE).status_code == 403
    toggled = admin.client.post(
        f"/settings/automation/rules/{rule.id}/toggle", data={"active": "0", "csrf_token": "nope"}
    )
    assert toggled.status_code == 403
    assert [r.active for r in _rules(session)] == [True]


def test_admin_creates_edits_toggles_and_deletes_a_rule(browser_for, session, people):
    admin = browser_for("admin")
    created = admin.post("/settings/automation/rules/new", data=RULE)
    assert created.status_code == 200 and "Automation rule Refunds to care saved." in created.text
    (r,) = _rules(session)
    assert r.conditions == TREE and r.position == 10 and r.active
    assert r.actions == [
        {"type": "add_label", "labels": ["refund", "billing"]},
        {"type": "set_priority", "priority": "high"},
    ]
    # The editor shows the stored rule in its groups.
    editor = admin.get(f"/settings/automation/rules/{r.id}").text
    assert 'value="money back"' in editor and 'value="refund, billing"' in editor
    # Edit: assign to the care team by slug, OR between the groups.
    edited = admin.post(
        f"/settings/automation/rules/{r.id}/edit",
        data={**RULE, "join": "any", "action_1": "assign_team", "param_1": "care"},
    )
    assert edited.status_code == 200
    (r,) = _rules(session)
    assert "any" in r.conditions and r.actions[1] == {"type": "assign_team", "team_id": people["team"].id}
    assert admin.post(f"/settings/automation/rules/{r.id}/toggle", data={"active": "0"}).status_code == 200
    assert _rules(session)[0].active is False
    page = admin.get("/settings/automation").text
    assert "Enable" in page and "off" in page
    assert admin.post(f"/settings/automation/rules/{r.id}/toggle", data={"active": "1"}).status_code == 200
    assert _rules(session)[0].active is True
    assert admin.post(f"/settings/automation/rules/{r.id}/delete").status_code == 200
    assert _rules(session) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "a rule needs a name"),
        ({"event": "full_moon"}, "unknown event"),
        ({"g0_op_0": "gte"}, "field platform takes"),
        ({"g0_field_0": "", "g0_value_0": "x"}, "group 1, test 1: choose a field"),
        ({"g1_field_0": "urgency", "g1_op_0": "gte", "g1_value_0": "high"}, "compares with a whole number"),
        ({"g1_field_0": "vip", "g1_op_0": "is", "g1_value_0": "maybe"}, "vip is true or false"),
        ({"action_0": "", "param_0": "", "action_1": "", "param_1": ""}, "expected a non-empty list"),
        ({"action_1": "set_priority", "param_1": "asap"}, "priority must be one of"),
        ({"action_1": "assign_team", "param_1": "nowhere"}, "no team &#39;nowhere&#39;"),
        ({"action_1": "snooze", "param_1": "a while"}, "minutes must be a whole number"),
        ({"action_1": "webhook", "param_1": "ftp://x"}, "url must be an http(s) URL"),
        ({"position": "first"}, "order must be a whole number"),
        ({"conditions_json": "{not json"}, "not valid JSON"),
    ],
)
def test_a_bad_rule_shows_the_form_again_and_changes_nothing(browser_for, session, rule, changes, message):
    admin = browser_for("admin")
    for url in ("/settings/automation/rules/new", f"/settings/automation/rules/{rule.id}/edit"):
        response = admin.post(url, data={**RULE, **changes})
        assert response.status_code == 400, (url, response.text[:300])
        assert message in response.text, url
        assert 'id="rule-form"' in response.text
    rules = _rules(session)
    assert len(rules) == 1 and rules[0].name == "Label refunds"
    assert rules[0].conditions == {"field": "text", "op": "contains", "value": "refund"}


def test_bad_toggles_and_unknown_rules(browser_for, rule):
    admin = browser_for("admin")
    assert (
        admin.post(f"/settings/automation/rules/{rule.id}/toggle", data={"active": "maybe"}).status_code
        == 400
    )
    assert admin.post("/settings/automation/rules/999/toggle", data={"active": "0"}).status_code == 400
    assert admin.get("/settings/automation/rules/999").status_code == 404
    assert admin.post("/settings/automation/rules/999/delete").status_code == 404
    assert admin.post("/settings/automation/rules/999/dry-run").status_code == 400
    assert admin.post(f"/settings/automation/rules/{rule.id}/dry-run", data={"days": "0"}).status_code == 400
    assert admin.post(f"/settings/automation/rules/{rule.id}/dry-run", data={"days": "x"}).status_code == 400


def test_the_dry_run_lists_the_conversations_that_would_have_matched_and_changes_nothing(
    browser_for, session, people, rule
):
    account = people["account"]
    hit = factories.conversation(session, account, "I want a refund for order 12", customer_name="Rae Fund")
    factories.conversation(session, account, "where is my parcel", customer_name="Pat Parcel")
    hit2 = factories.conversation(session, account, "REFUND please", customer_name="Ray Two")
    session.commit()
    response = browser_for("admin").post(f"/settings/automation/rules/{rule.id}/dry-run", data={"days": "7"})
    assert response.status_code == 200
    assert "2 of 3 past message_created events in the last 7 days would have matched" in response.text
    table = response.text.split('id="dry-run-matches"', 1)[1].split("</table>", 1)[0]
    assert f"c={hit.id}" in table and f"c={hit2.id}" in table and "Rae Fund" in table
    assert "Pat Parcel" not in table
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AutomationRun)) == 0
    assert all(c.labels in ([], None) for c in session.scalars(select(Conversation)))


def test_the_rules_list_says_the_conditions_in_words(browser_for, session):
    from socialdesk.web.ui.settings_automation import describe

    assert describe(TREE) == "platform eq x AND (text contains refund OR text contains money back)"
    assert describe({}) == "always"
    create_rule(session, name="Tree", event="message_created", conditions=TREE, actions=[{"type": "resolve"}])
    session.commit()
    html = browser_for("admin").get("/settings/automation").text
    assert "platform eq x AND (text contains refund OR text contains money back)" in html


def test_the_editor_tries_unsaved_conditions_against_history_and_saves_nothing(browser_for, session, people):
    account = people["account"]
    hit = factories.conversation(session, account, "money back now", customer_name="Mo Back")
    factories.conversation(session, account, "where is my parcel", customer_name="Pat Parcel")
    session.commit()
    admin = browser_for("admin")
    tried = admin.post("/settings/automation/rules/try", data={**RULE, "days": "3"})
    assert tried.status_code == 200
    assert "1 of 2 past message_created events in the last 3 days would have matched" in tried.text
    assert f"c={hit.id}" in tried.text and "Pat Parcel" not in tried.text
    assert 'value="money back"' in tried.text and 'id="rule-form"' in tried.text  # the editor, as typed
    assert 'action="/settings/automation/rules/new"' in tried.text
    bad = admin.post("/settings/automation/rules/try", data={**RULE, "g0_op_0": "gte"})
    assert bad.status_code == 400 and "field platform takes" in bad.text
    assert admin.post("/settings/automation/rules/try", data={**RULE, "days": "999"}).status_code == 400
    assert _rules(session) == []
    assert browser_for("agent").post("/settings/automation/rules/try", data=RULE).status_code == 403
