"""Settings → SLA policies and business hours: admin only, CSRF, bad input changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from socialdesk.auth.models import AuditEntry
from socialdesk.routing.models import BusinessCalendar, RoutingConfig, SlaPolicy
from socialdesk.routing.settings import get_config
from tests.web import factories

POLICY = {
    "name": "X urgent",
    "platform": "x",
    "priority": "urgent",
    "first_response_minutes": "15",
    "next_response_minutes": "30",
    "resolution_minutes": "240",
    "business_hours": "1",
    "active": "1",
}
WEEK = {f"day_{d}": "09:00-12:00, 13:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}


def _count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def policy(session):
    p = SlaPolicy(name="Default", first_response_minutes=60, resolution_minutes=1440)
    session.add(p)
    session.commit()
    return p


@pytest.fixture
def calendar(session, people):
    row = BusinessCalendar(
        name="Care week",
        team_id=people["team"].id,
        timezone="Europe/Berlin",
        schedule={"mon": [["09:00", "17:00"]]},
    )
    session.add(row)
    session.commit()
    return row


PAGES = ["/settings/sla", "/settings/sla/policies/new", "/settings/sla/calendars/new"]


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_only_admins_open_the_pages_and_others_get_the_html_403(browser_for, policy, calendar, role):
    b = browser_for(role)
    for url in PAGES + [f"/settings/sla/policies/{policy.id}", f"/settings/sla/calendars/{calendar.id}"]:
        response = b.get(url)
        assert response.status_code == 403, url
        assert "text/html" in response.headers["content-type"]
        assert "Access denied" in response.text and "needs the role admin" in response.text


def test_non_admin_writes_are_refused_and_change_nothing(browser_for, session, policy, calendar):
    for role in ("agent", "supervisor"):
        b = browser_for(role)
        assert b.post("/settings/sla/policies/new", data=POLICY).status_code == 403
        assert b.post(f"/settings/sla/policies/{policy.id}/edit", data=POLICY).status_code == 403
        assert b.post(f"/settings/sla/policies/{policy.id}/delete").status_code == 403
        assert b.post("/settings/sla/calendars/new", data={"name": "x", **WEEK}).status_code == 403
        assert b.post(f"/settings/sla/calendars/{calendar.id}/delete").status_code == 403
        assert b.post("/settings/sla/warning/save", data={"sla_warning_minutes": "5"}).status_code == 403
    assert _count(session, SlaPolicy) == 1 and _count(session, BusinessCalendar) == 1
    assert session.get(SlaPolicy, policy.id).name == "Default"


def test_writes_need_the_csrf_token(browser_for, session, policy):
    admin = browser_for("admin")
    missing = admin.client.post("/settings/sla/policies/new", data=POLICY)
    wrong = admin.client.post(f"/settings/sla/policies/{policy.id}/delete", data={"csrf_token": "forged"})
    assert missing.status_code == 403 and wrong.status_code == 403
    assert _count(session, SlaPolicy) == 1


def test_admin_creates_edits_and_deletes_a_policy(browser_for, session, people):
    admin = browser_for("admin")
    brand_id = people["account"].brand_id
    created = admin.post("/settings/sla/policies/new", data={**POLICY, "brand_id": str(brand_id)})
    assert created.status_code == 200 and "SLA policy X urgent saved." in created.text
    session.expire_all()
    p = session.scalar(select(SlaPolicy).where(SlaPolicy.name == "X urgent"))
    assert (p.brand_id, p.platform, p.priority) == (brand_id, "x", "urgent")
    assert (p.first_response_minutes, p.next_response_minutes, p.resolution_minutes) == (15, 30, 240)
    assert p.business_hours and p.active
    # The edit form shows the stored values; an edit clears a target and turns business hours off.
    form = admin.get(f"/settings/sla/policies/{p.id}").text
    assert 'value="240"' in form and 'name="business_hours" value="1" checked' in form
    edited = admin.post(
        f"/settings/sla/policies/{p.id}/edit",
        data={**POLICY, "name": "X urgent (24/7)", "next_response_minutes": "", "business_hours": ""},
    )
    assert edited.status_code == 200
    session.expire_all()
    p = session.get(SlaPolicy, p.id)
    assert p.name == "X urgent (24/7)" and p.next_response_minutes is None and not p.business_hours
    assert admin.post(f"/settings/sla/policies/{p.id}/delete").status_code == 200
    assert _count(session, SlaPolicy) == 0
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("sla_policy.%"))))
    assert actions == {"sla_policy.create", "sla_policy.update", "sla_policy.delete"}


def test_a_policy_that_timed_conversations_is_deactivated_not_deleted(browser_for, session, people):
    admin = browser_for("admin")
    policy = SlaPolicy(name="Timed one", first_response_minutes=30)
    session.add(policy)
    session.flush()
    conversation = factories.conversation(session, people["account"])
    conversation.sla_policy_id = policy.id
    session.commit()
    answer = admin.post(f"/settings/sla/policies/{policy.id}/delete")
    assert answer.status_code == 200 and "deactivated" in answer.text
    session.expire_all()
    kept = session.get(SlaPolicy, policy.id)
    assert kept is not None and not kept.active
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("sla_policy.%"))))
    assert actions == {"sla_policy.deactivate"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "a policy needs a name"),
        ({"first_response_minutes": "soon"}, "first response target must be a whole number"),
        ({"first_response_minutes": "0"}, "targets are whole minutes from 1"),
        (
            {"first_response_minutes": "", "next_response_minutes": "", "resolution_minutes": ""},
            "at least one target",
        ),
        ({"priority": "whenever"}, "priority must be empty"),
        ({"platform": "myspace"}, "platform must be empty"),
        ({"brand_id": "9999"}, "brand 9999 does not exist"),
        ({"calendar_id": "9999"}, "business calendar 9999 does not exist"),
    ],
)
def test_a_bad_policy_shows_the_form_again_and_changes_nothing(
    browser_for, session, policy, changes, message
):
    admin = browser_for("admin")
    for url in ("/settings/sla/policies/new", f"/settings/sla/policies/{policy.id}/edit"):
        response = admin.post(url, data={**POLICY, **changes})
        assert response.status_code == 400, url
        assert message in response.text
        assert 'id="policy-form"' in response.text  # the form, with what was typed
    session.expire_all()
    assert _count(session, SlaPolicy) == 1
    p = session.get(SlaPolicy, policy.id)
    assert (p.name, p.first_response_minutes, p.resolution_minutes) == ("Default", 60, 1440)


def test_unknown_ids_are_404(browser_for):
    admin = browser_for("admin")
    assert admin.get("/settings/sla/policies/999").status_code == 404
    assert admin.get("/settings/sla/calendars/999").status_code == 404
    assert admin.post("/settings/sla/policies/999/edit", data=POLICY).status_code == 400
    assert admin.post("/settings/sla/policies/999/delete").status_code == 404
    assert admin.post("/settings/sla/calendars/999/delete").status_code == 404


def test_admin_sets_a_teams_business_hours(browser_for, session, people):
    admin = browser_for("admin")
    response = admin.post(
        "/settings/sla/calendars/new",
        data={
            "name": "Care Berlin",
            "team_id": str(people["team"].id),
            "timezone": "Europe/Berlin",
            **WEEK,
            "day_sat": "10:00-14:00",
            "holiday_country": "de",
            "holiday_subdivision": "by",
            "closed_days": "2026-12-24\n2026-12-31",
        },
    )
    assert response.status_code == 200 and "Business hours Care Berlin saved." in response.text
    session.expire_all()
    row = session.scalar(select(BusinessCalendar))
    assert row.team_id == people["team"].id and row.timezone == "Europe/Berlin"
    assert row.schedule["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert row.schedule["sat"] == [["10:00", "14:00"]] and "sun" not in row.schedule
    assert (row.holiday_country, row.holiday_subdivision) == ("DE", "BY")
    assert row.closed_days == ["2026-12-24", "2026-12-31"]
    # Edit: Saturday closed, another timezone.
    edit = admin.post(
        f"/settings/sla/calendars/{row.id}/edit",
        data={"name": "Care Berlin", "team_id": str(people["team"].id), "timezone": "Europe/Lisbon", **WEEK},
    )
    assert edit.status_code == 200
    session.expire_all()
    row = session.get(BusinessCalendar, row.id)
    assert row.timezone == "Europe/Lisbon" and "sat" not in row.schedule and row.holiday_country == ""
    assert admin.post(f"/settings/sla/calendars/{row.id}/delete").status_code == 200
    assert _count(session, BusinessCalendar) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"day_mon": "nine to five"}, "is not a window like 09:00-17:00"),
        ({"day_mon": "17:00-09:00"}, "must end after it starts"),
        ({"day_mon": "09:00-13:00, 12:00-17:00"}, "windows overlap"),
        ({"holiday_country": "ZZ"}, "no public holidays known"),
        ({"closed_days": "Christmas"}, "is not a date like"),
        ({f"day_{d}": "" for d in ("mon", "tue", "wed", "thu", "fri")}, "no opening hours at all"),
        ({"team_id": "abc"}, "team must be a whole number"),
    ],
)
def test_bad_business_hours_show_the_form_again_and_change_nothing(
    browser_for, session, calendar, changes, message
):
    admin = browser_for("admin")
    base = {"name": "Care week", "timezone": "Europe/Berlin", **WEEK}
    for url in ("/settings/sla/calendars/new", f"/settings/sla/calendars/{calendar.id}/edit"):
        response = admin.post(url, data={**base, **changes})
        assert response.status_code == 400, url
        assert message in response.text
    session.expire_all()
    assert _count(session, BusinessCalendar) == 1
    row = session.get(BusinessCalendar, calendar.id)
    assert row.schedule == {"mon": [["09:00", "17:00"]]} and row.timezone == "Europe/Berlin"


def test_a_team_has_one_calendar(browser_for, session, people, calendar):
    admin = browser_for("admin")
    response = admin.post(
        "/settings/sla/calendars/new",
        data={"name": "Second", "team_id": str(people["team"].id), "timezone": "UTC", **WEEK},
    )
    assert response.status_code == 400 and "already has calendar" in response.text
    assert _count(session, BusinessCalendar) == 1


def test_deleting_a_calendar_unhooks_the_policies_that_named_it(browser_for, session, calendar):
    p = SlaPolicy(name="BH", first_response_minutes=60, business_hours=True, calendar_id=calendar.id)
    session.add(p)
    session.commit()
    assert browser_for("admin").post(f"/settings/sla/calendars/{calendar.id}/delete").status_code == 200
    session.expire_all()
    assert session.get(SlaPolicy, p.id).calendar_id is None


def test_the_warning_lead(browser_for, session):
    admin = browser_for("admin")
    get_config(session)
    session.commit()
    ok = admin.post("/settings/sla/warning/save", data={"sla_warning_minutes": "25"})
    assert ok.status_code == 200 and "25 minutes before a breach" in ok.text
    session.expire_all()
    assert session.get(RoutingConfig, 1).sla_warning_minutes == 25
    for bad, message in (
        ("-3", "from 0 to 10080"),
        ("lots", "must be a whole number"),
        ("", "Enter the warning"),
    ):
        response = admin.post("/settings/sla/warning/save", data={"sla_warning_minutes": bad})
        assert response.status_code == 400 and message in response.text, bad
    session.expire_all()
    assert session.get(RoutingConfig, 1).sla_warning_minutes == 25


def test_the_settings_navigation_links_the_new_pages(browser_for):
    html = browser_for("admin").get("/settings/sla").text
    nav = html.split('aria-label="Settings sections"', 1)[1].split("</nav>", 1)[0]
    for href in ("/settings/sla", "/settings/automation", "/settings/crm", "/settings?section=brands"):
        assert f'href="{href}"' in nav


def test_a_crafted_success_message_is_not_shown(browser_for):
    html = (
        browser_for("admin")
        .get("/settings/sla?ok=Your%20session%20expired%2C%20sign%20in%20at%20evil.example")
        .text
    )
    assert "evil.example" not in html and 'id="settings-ok"' not in html
