"""Hand-worked timelines measured to the second (the rules of docs/kpis.md)."""

from datetime import UTC, datetime

from socialdesk.analytics.timeline import Event, SlaClock, SlaTargets, replay
from socialdesk.routing.calendar import Calendar, business_seconds
from tests.analytics.factories import at


def ev(kind: str, when: datetime, **data) -> Event:
    ev.n += 1  # type: ignore[attr-defined]
    return Event(kind=kind, at=when, data=data, id=ev.n)  # type: ignore[attr-defined]


ev.n = 0  # type: ignore[attr-defined]


def status(when: datetime, to: str) -> Event:
    return ev("status_changed", when, to=to)


def test_first_and_next_response_and_resolution_in_calendar_time():
    t = replay(
        [
            ev("created", at("09:00")),
            ev("message_in", at("09:00")),
            ev("message_out", at("09:12:30")),
            ev("message_in", at("10:00")),
            ev("message_in", at("10:05")),  # a second message does not restart the wait
            ev("message_out", at("10:20")),
            status(at("11:00"), "resolved"),
        ]
    )
    assert [(r.kind, r.seconds) for r in t.responses] == [("first", 750.0), ("next", 1200.0)]
    assert [(c.cycle, c.seconds, c.gross_seconds) for c in t.resolutions] == [(1, 7200.0, 7200.0)]
    assert t.reopen_count == 0


def test_pending_time_is_left_out_of_resolution_and_of_a_wait():
    t = replay(
        [
            ev("created", at("09:00")),
            ev("message_in", at("09:00")),
            ev("message_out", at("09:10")),
            status(at("09:10"), "pending"),
            ev("message_in", at("12:00")),
            status(at("12:00"), "open"),  # threading records the customer's answer this way
            ev("message_out", at("12:30")),
            status(at("13:00"), "resolved"),
        ]
    )
    assert [r.seconds for r in t.responses] == [600.0, 1800.0]
    (cycle,) = t.resolutions
    assert cycle.gross_seconds == 4 * 3600
    assert cycle.seconds == 4 * 3600 - (3 * 3600 - 600)  # 09:10–12:00 pending


def test_snoozed_time_pauses_the_response_clock_and_resolution():
    t = replay(
        [
            ev("created", at("09:00")),
            ev("message_in", at("09:00")),
            status(at("09:05"), "snoozed"),
            status(at("10:05"), "open"),
            ev("message_out", at("10:15")),
            status(at("10:30"), "resolved"),
        ]
    )
    assert [r.seconds for r in t.responses] == [900.0]  # 75 min less the 60 min snoozed
    assert t.resolutions[0].seconds == 1800.0
    assert t.resolutions[0].gross_seconds == 5400.0


def test_a_reopen_starts_a_new_resolution_cycle_and_its_reply_is_a_next_response():
    t = replay(
        [
            ev("created", at("09:00")),
            ev("message_in", at("09:00")),
            ev("message_out", at("09:10")),
            status(at("09:30"), "resolved"),
            ev("reopened", at("10:00")),
            ev("message_in", at("10:00")),
            ev("message_out", at("10:20")),
            status(at("11:00"), "resolved"),
            status(at("12:00"), "closed"),  # closing a resolved conversation is no new resolution
        ]
    )
    assert t.reopen_count == 1
    assert [(c.cycle, c.started_at, c.seconds) for c in t.resolutions] == [
        (1, at("09:00"), 1800.0),
        (2, at("10:00"), 3600.0),
    ]
    assert [(r.kind, r.seconds) for r in t.responses] == [("first", 600.0), ("next", 1200.0)]


def test_resolving_without_a_reply_records_no_response():
    t = replay([ev("created", at("09:00")), ev("message_in", at("09:00")), status(at("09:30"), "resolved")])
    assert t.responses == []
    assert t.resolutions[0].seconds == 1800.0


def test_business_hours_count_only_open_time_across_a_weekend():
    berlin = Calendar.build(
        timezone="Europe/Berlin",
        schedule={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    friday_1630_local = datetime(2026, 11, 6, 15, 30, tzinfo=UTC)
    monday_0915_local = datetime(2026, 11, 9, 8, 15, tzinfo=UTC)
    t = replay(
        [
            ev("created", friday_1630_local),
            ev("message_in", friday_1630_local),
            ev("message_out", monday_0915_local),
            status(datetime(2026, 11, 9, 9, 0, tzinfo=UTC), "pending"),  # 10:00 local
            status(datetime(2026, 11, 9, 11, 0, tzinfo=UTC), "resolved"),
        ],
        clock=lambda a, b: business_seconds(berlin, a, b),
    )
    (first,) = t.responses
    assert first.seconds == 2 * 86400 + 16 * 3600 + 45 * 60
    assert first.business_seconds == 45 * 60  # 16:30–17:00 Friday + 09:00–09:15 Monday
    (cycle,) = t.resolutions
    assert cycle.business_seconds == 30 * 60 + 60 * 60  # Fri 30 min + Mon 09:00–10:00; pending after
    assert cycle.seconds == (datetime(2026, 11, 9, 9, 0, tzinfo=UTC) - friday_1630_local).total_seconds()


def test_sla_outcomes_come_from_breach_events_and_the_clocks_due_times():
    events = [
        ev("created", at("09:00")),
        ev("message_in", at("09:00")),
        ev("message_out", at("09:20")),
        ev("message_in", at("10:00")),
        ev("sla_breach", at("10:30"), target="next_response"),
        ev("message_out", at("10:45")),
        status(at("11:00"), "resolved"),
    ]
    sla = SlaTargets(
        {
            "first_response": SlaClock(at("09:20"), at("09:30")),
            "next_response": SlaClock(at("10:45"), at("10:30")),
            "resolution": SlaClock(at("11:00"), at("10:59")),
        }
    )
    t = replay(events, sla=sla)
    assert {k: (v.result, v.at) for k, v in t.sla.items()} == {
        "first_response": ("met", at("09:20")),
        "next_response": ("breached", at("10:30")),
        "resolution": ("breached", at("11:00")),
    }
    assert {v.result for v in replay(events[:3]).sla.values()} == {""}  # no policy, no outcome


def test_replies_are_credited_to_the_replying_agent_else_the_assignee():
    events = [
        ev("message_in", at("09:00")),
        ev("assigned", at("09:01"), agent_id=7),
        ev("message_out", at("09:05")),
        ev("message_in", at("09:10")),
        Event(kind="message_out", at=at("09:15"), actor_agent_id=9, id=999),
    ]
    assert [r.agent_id for r in replay(events).responses] == [7, 9]
