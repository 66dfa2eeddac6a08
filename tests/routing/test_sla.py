"""SLA clocks: business hours across nights, weekends, holidays and timezones; pauses; alerts."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from socialdesk.routing.calendar import Calendar, CalendarError, add_business_seconds, business_seconds
from socialdesk.routing.models import BusinessCalendar, SlaPolicy
from socialdesk.routing.sla import apply_sla, describe
from tests.routing import factories as f

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_17 = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def office(**kw) -> Calendar:
    return Calendar.build(timezone=kw.pop("timezone", "Europe/Berlin"), schedule=WEEKDAYS_9_17, **kw)


# --- business time ----------------------------------------------------------------------


def test_a_target_that_does_not_fit_today_continues_next_morning():
    # Monday 16:30 Berlin + 60 open minutes = 30 today + 30 on Tuesday from 09:00.
    due = add_business_seconds(office(), berlin(2026, 11, 2, 16, 30), 3600)
    assert due == berlin(2026, 11, 3, 9, 30)


def test_the_weekend_is_closed():
    due = add_business_seconds(office(), berlin(2026, 11, 6, 16, 30), 3600)  # Friday
    assert due == berlin(2026, 11, 9, 9, 30)  # Monday
    assert business_seconds(office(), berlin(2026, 11, 6, 17, 0), berlin(2026, 11, 9, 9, 0)) == 0


def test_public_holidays_and_custom_closed_days_are_closed():
    # Thu 24 Dec 16:30 → Christmas (Fri 25) and the weekend are closed → Mon 28 Dec.
    german = office(holiday_country="DE")
    assert add_business_seconds(german, berlin(2026, 12, 24, 16, 30), 3600) == berlin(2026, 12, 28, 9, 30)
    # Without the holiday calendar, Friday 25 is a working day.
    assert add_business_seconds(office(), berlin(2026, 12, 24, 16, 30), 3600) == berlin(2026, 12, 25, 9, 30)
    # A company closing day (Monday 28) pushes it one more day.
    closed = office(holiday_country="DE", closed_days=["2026-12-28"])
    assert add_business_seconds(closed, berlin(2026, 12, 24, 16, 30), 3600) == berlin(2026, 12, 29, 9, 30)


def test_regional_holidays_follow_the_subdivision():
    # 1 Nov 2027 (Monday) is All Saints' Day in Bavaria but not in Berlin.
    bavaria = office(holiday_country="DE", holiday_subdivision="BY")
    berlin_state = office(holiday_country="DE", holiday_subdivision="BE")
    start = berlin(2027, 10, 29, 16, 0)  # Friday
    assert add_business_seconds(bavaria, start, 2 * 3600) == berlin(2027, 11, 2, 10, 0)
    assert add_business_seconds(berlin_state, start, 2 * 3600) == berlin(2027, 11, 1, 10, 0)


def test_the_same_instant_is_due_at_different_times_in_different_timezones():
    start = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # 16:00 Berlin, 10:00 New York
    assert add_business_seconds(office(), start, 2 * 3600) == berlin(2026, 11, 3, 10, 0)
    assert add_business_seconds(office(timezone="America/New_York"), start, 2 * 3600) == datetime(
        2026, 11, 2, 12, 0, tzinfo=NEW_YORK
    )


def test_daylight_saving_change_keeps_wall_clock_hours():
    # Berlin leaves summer time on Sunday 25 Oct 2026; Monday 09:00 is 08:00 UTC, not 07:00.
    due = add_business_seconds(office(), berlin(2026, 10, 23, 16, 0), 2 * 3600)
    assert due == berlin(2026, 10, 26, 10, 0)
    assert due.astimezone(UTC).hour == 9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"schedule": {"monday": [["09:00", "17:00"]]}}, "unknown weekday"),
        ({"schedule": {"mon": [["17:00", "09:00"]]}}, "must end after"),
        ({"schedule": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}}, "overlap"),
        ({"schedule": {}}, "no opening hours"),
        ({"schedule": WEEKDAYS_9_17, "holiday_country": "XX"}, "no public holidays"),
        ({"schedule": WEEKDAYS_9_17, "closed_days": ["24.12.2026"]}, "not a date"),
    ],
)
def test_bad_calendars_are_rejected_with_a_reason(kwargs, message):
    with pytest.raises(CalendarError, match=message):
        Calendar.build(**kwargs)


# --- clocks from conversation history ---------------------------------------------------


def policy(session, **kw) -> SlaPolicy:
    p = SlaPolicy(
        name=kw.pop("name", "standard"),
        platform=kw.pop("platform", ""),
        priority=kw.pop("priority", ""),
        **kw,
    )
    session.add(p)
    session.flush()
    return p


def clocks(session, c, now):
    return {k["target"]: k for k in describe(session, c, now)["clocks"]}


def test_first_response_clock_runs_from_the_first_message_to_the_first_reply(session):
    policy(session, first_response_minutes=60, resolution_minutes=24 * 60)
    c = f.conversation(session, at=f.T0)
    apply_sla(session, c)
    assert c.first_response_due_at == f.T0 + timedelta(hours=1)
    assert c.resolution_due_at == f.T0 + timedelta(hours=24)
    f.event(session, c, "message_out", f.T0 + timedelta(minutes=45))
    apply_sla(session, c)
    assert c.first_response_due_at is None
    first = clocks(session, c, f.T0 + timedelta(hours=2))["first_response"]
    assert first["state"] == "stopped" and first["breached"] is False


def test_next_response_starts_with_the_customers_next_message(session):
    policy(session, first_response_minutes=60, next_response_minutes=30)
    c = f.conversation(session, at=f.T0)
    f.event(session, c, "message_out", f.T0 + timedelta(minutes=10))
    f.event(session, c, "message_in", f.T0 + timedelta(minutes=20))
    f.event(session, c, "message_in", f.T0 + timedelta(minutes=25))  # a second message does not restart it
    apply_sla(session, c)
    assert c.next_response_due_at == f.T0 + timedelta(minutes=50)
    f.event(session, c, "message_out", f.T0 + timedelta(minutes=70))
    result = clocks(session, c, f.T0 + timedelta(hours=3))["next_response"]
    assert result["state"] == "stopped" and result["breached"] is True


def test_pending_and_snoozed_time_does_not_count(session):
    policy(session, resolution_minutes=8 * 60)
    c = f.conversation(session, at=f.T0)
    f.event(session, c, "status_changed", f.T0 + timedelta(hours=1), **{"from": "open", "to": "pending"})
    f.event(session, c, "status_changed", f.T0 + timedelta(hours=3), **{"from": "pending", "to": "open"})
    f.event(session, c, "status_changed", f.T0 + timedelta(hours=4), **{"from": "open", "to": "snoozed"})
    now = f.T0 + timedelta(hours=6)
    apply_sla(session, c)
    assert c.resolution_due_at is None  # paused: nothing is due while snoozed
    paused = clocks(session, c, now)["resolution"]
    assert paused["state"] == "paused" and paused["remaining_seconds"] == 6 * 3600  # 1h + 1h used
    f.event(session, c, "status_changed", f.T0 + timedelta(hours=7), **{"from": "snoozed", "to": "open"})
    apply_sla(session, c)
    assert c.resolution_due_at == f.T0 + timedelta(hours=13)


def test_resolution_stops_the_clocks_and_a_reopen_starts_a_new_resolution_cycle(session):
    policy(session, first_response_minutes=60, resolution_minutes=120)
    c = f.conversation(session, at=f.T0)
    f.event(session, c, "message_out", f.T0 + timedelta(minutes=5))
    f.event(session, c, "status_changed", f.T0 + timedelta(minutes=30), **{"from": "open", "to": "resolved"})
    later = f.T0 + timedelta(days=1)
    f.event(session, c, "reopened", later)
    f.event(session, c, "message_in", later)
    apply_sla(session, c)
    assert c.resolution_due_at == later + timedelta(hours=2)


def test_business_hours_use_the_teams_calendar(session):
    team = f.team(session, timezone="America/New_York")
    session.add(
        BusinessCalendar(name="NY", team_id=team.id, timezone="America/New_York", schedule=WEEKDAYS_9_17)
    )
    policy(session, first_response_minutes=120, business_hours=True)
    friday_evening = datetime(2026, 11, 6, 16, 0, tzinfo=NEW_YORK)
    c = f.conversation(session, at=friday_evening, team_id=team.id)
    apply_sla(session, c)
    assert c.first_response_due_at == datetime(2026, 11, 9, 10, 0, tzinfo=NEW_YORK)


def test_the_most_specific_policy_applies(session):
    brand = f.conversation(session).customer  # any object; we need a brand id below
    del brand
    general = policy(session, name="general", first_response_minutes=240)
    urgent = policy(session, name="urgent", priority="urgent", first_response_minutes=15)
    instagram = policy(session, name="instagram", platform="instagram", first_response_minutes=60)
    c = f.conversation(session, priority="urgent", platform="instagram")
    assert apply_sla(session, c).policy.id == urgent.id  # priority beats platform
    c2 = f.conversation(session, priority="normal", platform="instagram")
    assert apply_sla(session, c2).policy.id == instagram.id
    c3 = f.conversation(session, priority="low", platform="x")
    assert apply_sla(session, c3).policy.id == general.id
