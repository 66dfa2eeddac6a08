"""KPIs end to end: constructed timelines → rollups → API figures (JSON and CSV), exact seconds."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import time_machine

from socialdesk.analytics.kpis import build_filters, response_times
from socialdesk.analytics.rollup import refresh
from socialdesk.auth.service import create_token
from socialdesk.routing.models import Agent, BusinessCalendar, SlaPolicy, Team
from tests import factories
from tests.analytics.factories import at, customer, timeline

NOW = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)


@pytest.fixture
def world(session):
    """Three conversations on Monday 2 Nov 2026 (hand-worked figures in the comments)."""
    brand = factories.brand(session, "acme")
    x = factories.account(session, "x", brand_obj=brand)
    ig = factories.account(session, "instagram", brand_obj=brand)
    ann = Agent(email="ann@acme.test", name="Ann", role="agent")
    bob = Agent(email="bob@acme.test", name="Bob", role="agent")
    session.add_all([ann, bob])
    session.flush()
    us, de1, de2 = (
        customer(session, country="US"),
        customer(session, country="DE"),
        customer(session, country="DE"),
    )
    # C1: FRT 10 min, NRT 20 min, resolved after 1 h 30 min; sentiment negative → positive.
    c1 = timeline(
        session,
        x,
        [
            ("assigned", at("09:00"), ann.id),
            ("in", at("09:00"), "negative"),
            ("out", at("09:10"), ann.id),
            ("in", at("09:30"), "neutral"),
            ("out", at("09:50"), ann.id),
            ("in", at("10:00"), "positive"),
            ("status", at("10:30"), "resolved"),
        ],
        customer_obj=us,
        language="en",
    )
    # C2: FRT 30 min, pending 11:30–13:30, NRT 10 min, resolved 14:00 → 3 h gross, 1 h in our hands.
    c2 = timeline(
        session,
        ig,
        [
            ("assigned", at("11:00"), bob.id),
            ("in", at("11:00"), "negative"),
            ("out", at("11:30"), bob.id),
            ("status", at("11:30"), "pending"),
            ("in", at("13:30"), "negative"),
            ("out", at("13:40"), bob.id),
            ("status", at("14:00"), "resolved"),
        ],
        customer_obj=de1,
        language="de",
    )
    # C3: unanswered since 15:00 → in the backlog, one hour old at 16:00.
    c3 = timeline(
        session,
        x,
        [("assigned", at("15:00"), bob.id), ("in", at("15:00"), "neutral")],
        customer_obj=de2,
        language="de",
    )
    token = create_token(session, "analytics-test", role="supervisor")
    session.commit()
    return {"ann": ann, "bob": bob, "c1": c1, "c2": c2, "c3": c3, "token": token, "brand": brand}


def _get(client, world, path, **params):
    response = client.get(path, params=params, headers={"Authorization": f"Bearer {world['token']}"})
    assert response.status_code == 200, response.text
    return response


def test_first_response_time_overall_and_by_platform(client, world):
    body = _get(client, world, "/api/v1/analytics/first-response", group_by="platform").json()
    overall = body["overall"]
    assert (overall["count"], overall["mean_seconds"], overall["median_seconds"]) == (2, 1200.0, 1200.0)
    assert overall["p90_seconds"] == 1680.0  # 600 + 0.9 × (1800 − 600)
    assert {g["key"]: g["median_seconds"] for g in body["groups"]} == {"instagram": 1800.0, "x": 600.0}
    assert overall["buckets"]["< 15m"] == 1 and overall["buckets"]["15m–1h"] == 1


def test_next_response_resolution_volume_backlog_and_sentiment(client, world):
    nrt = _get(client, world, "/api/v1/analytics/next-response").json()["overall"]
    assert (nrt["count"], nrt["mean_seconds"]) == (2, 900.0)  # 1200 and 600
    res = _get(client, world, "/api/v1/analytics/resolution").json()["overall"]
    assert (res["count"], res["median_seconds"], res["gross_median_seconds"]) == (
        2,
        4500.0,
        8100.0,
    )  # net 5400 and 3600; gross 5400 and 10800
    vol = _get(client, world, "/api/v1/analytics/volume", group_by="language").json()
    assert vol["overall"] == {"conversations": 3, "messages_in": 6, "messages_out": 4}
    assert {g["key"]: g["conversations"] for g in vol["groups"]} == {"de": 2, "en": 1}
    with time_machine.travel(NOW, tick=False):
        backlog = _get(client, world, "/api/v1/analytics/backlog").json()["overall"]
    assert (backlog["count"], backlog["age_max_seconds"], backlog["waiting_on_us"]) == (1, 3600.0, 1)
    shift = _get(client, world, "/api/v1/analytics/sentiment-shift", group_by="country").json()
    assert shift["overall"]["conversations"] == 2
    assert shift["overall"]["mean_shift"] == 1.0  # (+2 + 0) / 2
    assert {g["key"]: g["mean_shift"] for g in shift["groups"]} == {"DE": 0.0, "US": 2.0}


def test_filters_narrow_every_figure(client, world):
    def frt(**params):
        return _get(client, world, "/api/v1/analytics/first-response", **params).json()["overall"][
            "median_seconds"
        ]

    assert frt(platform="x") == 600.0
    assert frt(agent="bob@acme.test") == 1800.0
    assert frt(agent=str(world["ann"].id)) == 600.0
    assert frt(country="de") == 1800.0
    assert frt(language="en") == 600.0
    assert frt(brand="acme") == 1200.0
    # The range applies to when the reply was sent: only C1's 09:10 reply is inside.
    assert frt(since="2026-11-02T09:05", until="2026-11-02T11:00") == 600.0
    per_agent = _get(client, world, "/api/v1/analytics/first-response", group_by="agent").json()["groups"]
    assert {g["label"]: g["median_seconds"] for g in per_agent} == {"Ann": 600.0, "Bob": 1800.0}


def test_bad_filters_are_refused_with_a_reason(client, world):
    headers = {"Authorization": f"Bearer {world['token']}"}
    for params, words in (
        ({"brand": "nope"}, "no brand"),
        ({"since": "yesterday-ish"}, "not a date"),
        ({"group_by": "colour"}, "unknown grouping"),
        ({"since": "2026-11-03", "until": "2026-11-02"}, "until must be after since"),
    ):
        response = client.get("/api/v1/analytics/first-response", params=params, headers=headers)
        assert response.status_code == 400 and words in response.json()["detail"], (params, response.text)
    assert client.get("/api/v1/analytics/nonsense", headers=headers).status_code == 404
    assert client.get("/api/v1/analytics/first-response").status_code == 401


def test_agents_cannot_read_analytics(client, session, world):
    token = create_token(session, "an-agent", role="agent")
    session.commit()
    response = client.get("/api/v1/analytics/summary", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("figure", "group_by"),
    [
        ("first-response", "platform"),
        ("volume", "language"),
        ("cultural", "country"),
        ("agents", None),
        ("sla", None),
    ],
)
def test_csv_export_holds_the_same_figures_as_the_api(client, world, figure, group_by):
    params = {"group_by": group_by} if group_by else {}
    api = _get(client, world, f"/api/v1/analytics/{figure}", **params).json()
    exported = _get(client, world, f"/api/v1/analytics/{figure}", format="csv", **params)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    if figure == "sla":
        assert [(r["target"], r["met"], r["breached"]) for r in rows] == [
            (t, str(v["overall"]["met"]), str(v["overall"]["breached"])) for t, v in api["targets"].items()
        ]
        return
    groups = api["groups"]
    assert [r["key"] for r in rows] == [g["key"] for g in groups]
    for row, group in zip(rows, groups, strict=True):
        for column, value in group.items():
            if not isinstance(value, dict):
                assert row[column] == ("" if value is None else str(value)), column


def test_dashboard_export_equals_api(client, world):
    params = {"since": "2026-11-01", "until": "2026-11-03", "group_by": "language"}
    api = _get(client, world, "/api/v1/analytics/cultural", **params).json()["groups"]
    rows = list(
        csv.DictReader(io.StringIO(_get(client, world, "/analytics/export/cultural.csv", **params).text))
    )
    assert [(r["key"], r["conversations"], r["frt_median_seconds"]) for r in rows] == [
        (
            g["key"],
            str(g["conversations"]),
            "" if g["frt_median_seconds"] is None else str(g["frt_median_seconds"]),
        )
        for g in api
    ]


def test_sla_compliance_uses_the_routing_policy_clocks(client, session, world):
    policy = SlaPolicy(name="15 min first response", first_response_minutes=15, resolution_minutes=120)
    session.add(policy)
    session.flush()
    for conv in (world["c1"], world["c2"]):
        session.merge(conv).sla_policy_id = policy.id
    session.commit()
    from socialdesk.analytics.rollup import rebuild_all

    rebuild_all(session)
    session.commit()
    targets = _get(client, world, "/api/v1/analytics/sla").json()["targets"]
    assert targets["first_response"]["overall"] == {"met": 1, "breached": 1, "compliance": 0.5}
    # C1 took 90 min in our hands, C2 60 min (pending paused the clock): both within 2 h.
    assert targets["resolution"]["overall"] == {"met": 2, "breached": 0, "compliance": 1.0}


def test_business_hours_use_the_teams_calendar(client, session, world):
    team = Team(slug="care-de", name="Care DE", timezone="Europe/Berlin")
    session.add(team)
    session.flush()
    session.add(
        BusinessCalendar(
            name="Berlin office",
            team_id=team.id,
            timezone="Europe/Berlin",
            schedule={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        )
    )
    x = factories.account(session, "x", brand_obj=world["brand"])
    # Friday 6 Nov 16:50 Berlin (15:50 UTC) → Monday 9 Nov 09:05 Berlin: 10 + 5 open minutes.
    timeline(
        session,
        x,
        [("in", datetime(2026, 11, 6, 15, 50, tzinfo=UTC)), ("out", datetime(2026, 11, 9, 8, 5, tzinfo=UTC))],
        team_id=team.id,
    )
    session.commit()
    calendar = _get(client, world, "/api/v1/analytics/first-response", team="care-de").json()["overall"]
    business = _get(
        client, world, "/api/v1/analytics/first-response", team="care-de", business_hours="1"
    ).json()
    assert calendar["median_seconds"] == 2 * 86400 + 16 * 3600 + 15 * 60
    assert business["overall"]["median_seconds"] == 900.0
    assert business["filters"]["business_hours"] is True


def test_refresh_folds_in_new_events_only_once(session, world):
    assert refresh(session) == 3  # first run: every conversation
    assert refresh(session) == 0  # nothing new
    timeline(
        session,
        factories.account(session, "x", brand_obj=world["brand"]),
        [("in", at("12:00")), ("out", at("12:01"))],
    )
    assert refresh(session) >= 1
    f = build_filters(session, platform="x")
    assert response_times(session, f)["overall"]["count"] == 2


def test_time_groupings_and_series(client, world):
    by_hour = _get(client, world, "/api/v1/analytics/volume", group_by="hour").json()["groups"]
    assert {g["key"]: (g["conversations"], g["messages_in"]) for g in by_hour} == {
        "09": (1, 2),
        "10": (0, 1),
        "11": (1, 1),
        "13": (0, 1),
        "15": (1, 1),
    }
    by_week = _get(client, world, "/api/v1/analytics/csat", group_by="week").json()
    assert by_week["overall"]["answers"] == 0
    week = _get(client, world, "/api/v1/analytics/volume", group_by="week").json()["groups"]
    assert [(g["key"], g["conversations"]) for g in week] == [("2026-11-02", 3)]  # a Monday
    series = _get(client, world, "/api/v1/analytics/volume-by-sentiment").json()
    assert series["names"] == ["negative", "neutral", "positive"]
    assert series["points"] == [{"t": "2026-11-02", "negative": 3, "neutral": 2, "positive": 1}]


def test_the_one_pass_report_equals_the_per_figure_queries(session, world):
    from socialdesk.analytics import kpis

    refresh(session)
    surveys_answered(session, world)
    f = build_filters(session, since="2026-11-01", until="2026-11-03")
    summary, tables = kpis.report_figures(session, f, now=NOW)
    assert summary == kpis.summary(session, f, now=NOW)
    for dim in kpis.REPORT_DIMS:
        assert tables[dim] == kpis.breakdown(session, f, dim), dim
    assert summary["volume"]["conversations"] == 3 and len(tables["country"]) == 2


def surveys_answered(session, world):
    from socialdesk.analytics import surveys

    for conv, rating in ((world["c1"], 5), (world["c2"], 2)):
        survey = surveys.on_resolved(session, session.merge(conv), at("14:00"))
        surveys.answer(session, survey, rating, via="page", at=at("15:00"))


@pytest.fixture
def db_url(any_db_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL (time keys, upserts, percentiles)."""
    return any_db_url
