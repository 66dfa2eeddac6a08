"""The listening, alert and crisis pages, server side: who may open and change them, CSRF on
every form, and that each form does what it says through the listening domain's services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from socialdesk.auth.models import AuditEntry
from socialdesk.db.base import utcnow
from socialdesk.listening import alerts, service
from socialdesk.listening.models import Alert, Crisis, CrisisEvent, ListeningRule
from socialdesk.listening.spikes import Finding
from socialdesk.web.ui import alerts as alert_pages
from socialdesk.web.ui import crisis as crisis_pages
from socialdesk.web.ui import listening as listening_pages
from tests.web import factories


@pytest.fixture(autouse=True)
def _no_background_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    # Alerts would be sent from a thread after each commit; there are no destinations here anyway.
    monkeypatch.setattr(alerts, "BACKGROUND_DELIVERY", False)


@pytest.fixture
def desk(session, people) -> dict[str, Any]:
    """A rule, a few messages it matches, an alert on it, a crisis team and an active crisis."""
    account = people["account"]
    brand = account.brand
    crisis_team = factories.team(session, "Crisis", slug="crisis-team", is_crisis=True)
    now = utcnow()
    for i, text in enumerate(["the app crashes at login", "app crashes again!!", "love the new colours"]):
        factories.conversation(session, account, text, at=now - timedelta(hours=i + 1), status="open")
    rule = service.create_rule(session, brand=brand.slug, name="Crashes", kind="product", query="crash*")
    finding = Finding(
        series=f"rule:{rule.id}",
        window_start=now - timedelta(minutes=10),
        window_end=now,
        observed=12,
        expected=2.5,
        score=7.3,
        ratio=4.8,
        method="seasonal",
    )
    info = service.RuleInfo(rule.id, rule.brand_id, rule.kind, rule.name, rule.query)
    alert = alerts.raise_spike(session, finding, brand_id=brand.id, rule=info)
    session.commit()
    return {"brand": brand, "rule": rule, "alert": alert, "crisis_team": crisis_team}


@pytest.fixture
def active_crisis(session, desk) -> Crisis:
    from socialdesk.listening import crisis

    row = crisis.declare(
        session, name="Login outage", actor="Sam Sup", query="crash*", holding_statement="On it."
    )
    session.commit()
    return row


# --- access ---------------------------------------------------------------------------------------

PAGES = [
    "/listening",
    "/listening?brand={brand}",
    "/listening/rules/new",
    "/listening/rules/{rule}",
    "/listening/rules/{rule}/edit",
    "/listening/preview?query=crash*",
    "/ui/listening/rules/{rule}/mentions",
    "/alerts",
    "/alerts?status=all",
    "/alerts/{alert}",
    "/ui/alerts/badge",
    "/ui/alerts/{alert}/toast",
    "/crisis",
    "/crisis?alert_id={alert}",
    "/crisis/{crisis}",
    "/ui/crisis/{crisis}/timeline",
]


def _url(path: str, desk: dict[str, Any], crisis: Crisis) -> str:
    return path.format(
        brand=desk["brand"].slug, rule=desk["rule"].id, alert=desk["alert"].id, crisis=crisis.id
    )


def test_the_table_covers_every_page_these_modules_serve():
    served = {
        r.path
        for module in (listening_pages, alert_pages, crisis_pages)
        for r in module.router.routes
        if "GET" in getattr(r, "methods", set())
    }
    listed = {
        p.split("?")[0]
        .replace("{rule}", "{rule_id}")
        .replace("{alert}", "{alert_id}")
        .replace("{crisis}", "{crisis_id}")
        for p in PAGES
    }
    assert served == listed


@pytest.mark.parametrize("path", PAGES)
def test_managers_open_every_page_agents_are_refused_and_visitors_sent_to_login(
    browser_for, desk, active_crisis, path
):
    url = _url(path, desk, active_crisis)
    for role in ("supervisor", "admin"):
        response = browser_for(role).get(url, follow_redirects=False)
        assert response.status_code == 200, (role, url, response.text[:300])
    assert browser_for("agent").get(url, follow_redirects=False).status_code == 403
    anonymous = browser_for().get(url, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def _writes(desk: dict[str, Any], crisis: Crisis) -> list[tuple[str, dict[str, str]]]:
    return [
        (
            "/listening/rules",
            {"brand": desk["brand"].slug, "name": "Outage", "kind": "brand", "query": "outage"},
        ),
        (
            f"/listening/rules/{desk['rule'].id}",
            {"name": "Renamed", "kind": "brand", "query": "crash", "active": "1"},
        ),
        (f"/listening/rules/{desk['rule'].id}/delete", {}),
        (f"/alerts/{desk['alert'].id}/ack", {}),
        (f"/alerts/{desk['alert'].id}/snooze", {"minutes": "60"}),
        ("/crisis", {"name": "Another", "query": "outage"}),
        (f"/crisis/{crisis.id}/statement", {"holding_statement": "Changed"}),
        (f"/crisis/{crisis.id}/actions", {"text": "Posted on X"}),
        (f"/crisis/{crisis.id}/close", {"summary": "Over"}),
    ]


def _state(session) -> tuple[Any, ...]:
    session.expire_all()
    rules = [
        (r.name, r.query, r.active) for r in session.scalars(select(ListeningRule).order_by(ListeningRule.id))
    ]
    alert_rows = [(a.status, a.snoozed_until) for a in session.scalars(select(Alert).order_by(Alert.id))]
    crises = [(c.status, c.holding_statement) for c in session.scalars(select(Crisis).order_by(Crisis.id))]
    events = session.scalar(select(CrisisEvent.id).order_by(CrisisEvent.id.desc()).limit(1))
    return rules, alert_rows, crises, events


def test_every_form_needs_the_csrf_token_and_changes_nothing_without_it(
    browser_for, session, desk, active_crisis
):
    sup = browser_for("supervisor")
    before = _state(session)
    for url, data in _writes(desk, active_crisis):
        for token in (None, "wrong-token"):
            headers = {"X-CSRF-Token": token} if token else {}
            response = sup.client.post(url, data=data, headers=headers, follow_redirects=False)
            assert response.status_code == 403, (url, token)
            assert "CSRF" in response.text
    assert _state(session) == before


def test_agents_cannot_change_anything_even_with_a_valid_token(browser_for, session, desk, active_crisis):
    agent = browser_for("agent")
    before = _state(session)
    for url, data in _writes(desk, active_crisis):
        assert agent.post(url, data=data, follow_redirects=False).status_code == 403, url
    assert _state(session) == before


# --- rules --------------------------------------------------------------------------------------


def test_rules_are_listed_per_brand_with_kind_and_seven_day_mentions(browser_for, desk):
    html = browser_for("supervisor").get(f"/listening?brand={desk['brand'].slug}").text
    assert "Crashes" in html and "product" in html and "crash*" in html
    assert browser_for("supervisor").get("/listening?brand=nope").status_code == 404


def test_preview_counts_matches_with_samples_and_points_at_parse_errors(browser_for, desk):
    sup = browser_for("supervisor")
    ok = sup.get("/listening/preview", params={"query": "crash*", "brand": desk["brand"].slug, "since": "7d"})
    assert ok.status_code == 200
    assert "Would have matched <strong>2</strong>" in ok.text
    assert "the app crashes at login" in ok.text and "love the new colours" not in ok.text
    bad = sup.get("/listening/preview", params={"query": "crash AND (login", "brand": desk["brand"].slug})
    assert bad.status_code == 200 and 'id="preview-error"' in bad.text
    caret = bad.text.split('<pre class="query-caret"', 1)[1].split("</pre>", 1)[0]
    query_line, pointer_line = caret.split(">", 1)[1].split("\n")[:2]
    assert query_line == "crash AND (login"
    assert pointer_line.index("^") == len("crash AND (login")  # the missing ")" is at the end
    period = sup.get("/listening/preview", params={"query": "crash*", "since": "forever"})
    assert "invalid period" in period.text


def test_creating_a_rule_with_a_bad_query_shows_where_and_stores_nothing(browser_for, session, desk):
    sup = browser_for("supervisor")
    data = {"brand": desk["brand"].slug, "name": "Broken", "kind": "brand", "query": 'refund NEAR/x "money'}
    response = sup.post("/listening/rules", data=data, follow_redirects=False)
    assert response.status_code == 400
    assert "invalid query" in response.text and 'class="query-caret"' in response.text
    assert 'value="Broken"' in response.text  # the form keeps what was typed
    assert session.scalar(select(ListeningRule).where(ListeningRule.name == "Broken")) is None
    unknown_kind = sup.post("/listening/rules", data={**data, "query": "refund", "kind": "gossip"})
    assert unknown_kind.status_code == 400 and "unknown rule kind" in unknown_kind.text


def test_a_supervisor_creates_edits_pauses_and_deletes_a_rule(browser_for, session, desk):
    sup = browser_for("supervisor")
    data = {
        "brand": desk["brand"].slug,
        "name": "Refunds",
        "kind": "campaign",
        "query": 'refund OR "money back"',
    }
    created = sup.post("/listening/rules", data=data, follow_redirects=False)
    assert created.status_code == 303
    rule_id = int(created.headers["location"].rsplit("/", 1)[1])
    rule = session.get(ListeningRule, rule_id)
    assert (rule.name, rule.kind, rule.created_by) == ("Refunds", "campaign", "Sam Sup")
    duplicate = sup.post("/listening/rules", data=data)
    assert duplicate.status_code == 400 and "already has a rule named" in duplicate.text
    edit = {"name": "Refunds", "kind": "campaign", "query": "refund*"}  # no "active": paused
    assert sup.post(f"/listening/rules/{rule_id}", data=edit, follow_redirects=False).status_code == 303
    session.expire_all()
    assert (rule.query, rule.active) == ("refund*", False)
    assert sup.post(f"/listening/rules/{rule_id}/delete", follow_redirects=False).status_code == 303
    session.expire_all()
    assert session.get(ListeningRule, rule_id) is None
    actions = set(
        session.scalars(select(AuditEntry.action).where(AuditEntry.target == f"listening_rule:{rule_id}"))
    )
    assert actions == {"listening.rule.create", "listening.rule.update", "listening.rule.delete"}


def test_a_rule_page_lists_its_recent_mentions(browser_for, session, desk):
    from socialdesk.conversations.models import Message

    for message in session.scalars(select(Message)):
        service.listening_step(session, message)
    session.commit()
    html = browser_for("supervisor").get(f"/listening/rules/{desk['rule'].id}").text
    mentions = html.split('id="mention-list"', 1)[1].split("</table>", 1)[0]
    assert "the app crashes at login" in mentions and "app crashes again" in mentions
    assert "love the new colours" not in mentions


# --- alerts -------------------------------------------------------------------------------------


def test_alert_detail_shows_window_observed_expected_score_and_examples(browser_for, desk):
    html = browser_for("supervisor").get(f"/alerts/{desk['alert'].id}").text
    assert "Spike in &#39;Crashes&#39;" in html or "Spike in 'Crashes'" in html
    facts = html.split('id="alert-facts"', 1)[1].split("</dl>", 1)[0]
    assert "<strong>12.0</strong> against 2.5 expected" in facts and "4.8×" in facts
    assert "7.3" in facts and "seasonal" in facts


def test_acknowledge_and_snooze_an_alert_and_the_badge_follows(browser_for, session, desk):
    sup = browser_for("supervisor")
    alert_id = desk["alert"].id
    assert 'id="alert-count"' in sup.get("/ui/alerts/badge").text
    assert sup.post(f"/alerts/{alert_id}/snooze", data={"minutes": "0"}).status_code == 400
    assert sup.post(f"/alerts/{alert_id}/snooze", data={"minutes": "soon"}).status_code == 400
    assert (
        sup.post(f"/alerts/{alert_id}/snooze", data={"minutes": "60"}, follow_redirects=False).status_code
        == 303
    )
    session.expire_all()
    alert = session.get(Alert, alert_id)
    assert alert.status == "snoozed" and alert.snoozed_until > utcnow() + timedelta(minutes=59)
    assert sup.get("/ui/alerts/badge").text.strip() == ""  # snoozed: nothing waiting
    assert sup.post(f"/alerts/{alert_id}/ack", follow_redirects=False).status_code == 303
    session.expire_all()
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", "Sam Sup")
    assert "No active alerts" in sup.get("/alerts").text
    assert sup.get("/alerts?status=bogus").status_code == 400
    assert sup.post("/alerts/999999/ack").status_code == 404


# --- crisis -------------------------------------------------------------------------------------


def test_declare_a_crisis_from_an_alert_then_act_and_close_it(browser_for, session, desk):
    sup = browser_for("supervisor")
    form = sup.get(f"/crisis?alert_id={desk['alert'].id}").text
    assert f'<option value="{desk["alert"].id}" selected' in form
    response = sup.post(
        "/crisis",
        data={
            "name": "App crash wave",
            "alert_id": str(desk["alert"].id),
            "holding_statement": "We are on it.",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    crisis_id = int(response.headers["location"].rsplit("/", 1)[1])
    row = session.get(Crisis, crisis_id)
    assert (row.query, row.team_id, row.status) == ("crash*", desk["crisis_team"].id, "active")
    page = sup.get(f"/crisis/{crisis_id}").text
    assert "2</strong> matching" in page or "conversations routed" in page
    assert sup.post(f"/crisis/{crisis_id}/actions", data={"text": "Status page updated"}).status_code == 200
    assert sup.post(f"/crisis/{crisis_id}/statement", data={"holding_statement": " "}).status_code == 400
    sup.post(f"/crisis/{crisis_id}/statement", data={"holding_statement": "Fixed soon."})
    assert sup.post(f"/crisis/{crisis_id}/close", data={"summary": ""}).status_code == 400
    closed = sup.post(f"/crisis/{crisis_id}/close", data={"summary": "Bad deploy, rolled back."})
    assert closed.status_code == 200 and 'id="crisis-summary">Bad deploy, rolled back.' in closed.text
    session.expire_all()
    assert (row.status, row.holding_statement, row.summary["text"]) == (
        "closed",
        "Fixed soon.",
        "Bad deploy, rolled back.",
    )
    timeline = sup.get(f"/ui/crisis/{crisis_id}/timeline?bucket=60").text
    for kind in ("declared", "action", "statement", "closed"):
        assert f"<strong>{kind}</strong>" in timeline
    again = sup.post(f"/crisis/{crisis_id}/close", data={"summary": "twice"})
    assert again.status_code == 400 and "already closed" in again.text
    assert sup.get(f"/ui/crisis/{crisis_id}/timeline?bucket=7").status_code == 400


def test_declaring_needs_a_name_and_a_valid_query(browser_for, session, desk):
    sup = browser_for("supervisor")
    before = session.scalar(select(Crisis.id).order_by(Crisis.id.desc()).limit(1))
    assert sup.post("/crisis", data={"name": "", "query": "crash"}).status_code == 400
    bad = sup.post("/crisis", data={"name": "X", "query": "crash AND ("})
    assert bad.status_code == 400 and "invalid query" in bad.text
    assert sup.post("/crisis", data={"name": "X", "query": "crash", "team_id": "abc"}).status_code == 400
    assert sup.post("/crisis", data={"name": "X", "query": "crash", "brand": "nope"}).status_code == 400
    session.expire_all()
    assert session.scalar(select(Crisis.id).order_by(Crisis.id.desc()).limit(1)) == before


def test_the_navigation_links_alerts_and_crisis_for_managers_only(browser_for, desk):
    sup_nav = (
        browser_for("supervisor").get("/").text.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]
    )
    assert ">Alerts</a>" in sup_nav and ">Crisis</a>" in sup_nav and 'id="alert-badge"' in sup_nav
    agent_nav = browser_for("agent").get("/").text.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]
    assert ">Alerts</a>" not in agent_nav and "alert-badge" not in agent_nav
