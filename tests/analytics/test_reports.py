"""`socialdesk report`: the KPI report in md/csv/json, and weekly schedules by e-mail and webhook."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from typer.testing import CliRunner

from socialdesk.analytics.models import ReportSchedule
from socialdesk.analytics.reports import ReportError, create_schedule, next_run, run_due
from socialdesk.cli import app
from tests import factories
from tests.analytics.factories import customer, timeline
from tests.services import free_port


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"  # empty: the CLI migrates it like in production


@pytest.fixture
def desk(session, settings):
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=2)
    acct = factories.account(session, "x", brand_obj=factories.brand(session, "acme"))
    timeline(
        session,
        acct,
        [
            ("in", start),
            ("out", start + timedelta(minutes=12)),
            ("status", start + timedelta(hours=2), "resolved"),
        ],
        customer_obj=customer(session, country="DE"),
        language="de",
    )
    timeline(
        session, acct, [("in", start + timedelta(hours=1)), ("out", start + timedelta(hours=1, minutes=4))]
    )
    session.commit()
    return runner


def test_report_prints_markdown_csv_and_json_with_the_same_figures(desk):
    md = desk.invoke(app, ["report", "--since", "7d", "--format", "md"])
    assert md.exit_code == 0, md.output
    assert "# socialdesk KPI report" in md.stdout
    assert "| New conversations | 2 |" in md.stdout
    assert "First response time (n=2) | mean 8.0 min, median 8.0 min" in md.stdout
    assert "## By language" in md.stdout and "| de | 1 |" in md.stdout
    as_json = json.loads(desk.invoke(app, ["report", "--since", "7d", "--format", "json"]).stdout)
    frt = as_json["summary"]["first_response_time"]
    assert (frt["count"], frt["mean_seconds"], frt["min_seconds"], frt["max_seconds"]) == (
        2,
        480.0,
        240.0,
        720.0,
    )
    rows = list(
        csv.DictReader(io.StringIO(desk.invoke(app, ["report", "--since", "7d", "--format", "csv"]).stdout))
    )
    values = {(r["section"], r["group"], r["metric"]): r["value"] for r in rows}
    assert values[("summary", "", "first_response_time.mean_seconds")] == "480.0"
    assert values[("summary", "", "resolution_time.median_seconds")] == "7200.0"
    assert values[("platform", "x", "conversations")] == "2"


def test_rebuild_recomputes_every_conversation(desk):
    out = desk.invoke(app, ["report", "rebuild"])
    assert out.exit_code == 0 and "rebuilt the KPI rollups of 2 conversations" in out.stdout


def test_report_rejects_bad_input(desk):
    bad_format = desk.invoke(app, ["report", "--format", "pdf"])
    assert bad_format.exit_code == 2 and "unknown format 'pdf'" in bad_format.stderr
    bad_since = desk.invoke(app, ["report", "--since", "last tuesday"])
    assert bad_since.exit_code == 2 and "not a date" in bad_since.stderr
    bad_brand = desk.invoke(app, ["report", "--brand", "nope"])
    assert bad_brand.exit_code == 2 and "no brand 'nope'" in bad_brand.stderr
    no_target = desk.invoke(app, ["report", "schedule", "add", "weekly"])
    assert no_target.exit_code == 2 and "needs an e-mail address" in no_target.stderr
    assert "no report schedules" in desk.invoke(app, ["report", "schedule", "list"]).stdout


def test_next_run_is_the_coming_weekday_and_hour():
    s = ReportSchedule(every="weekly", weekday=0, hour=8)
    wednesday = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
    assert next_run(s, wednesday) == datetime(2026, 11, 9, 8, 0, tzinfo=UTC)
    assert next_run(s, datetime(2026, 11, 9, 7, 59, tzinfo=UTC)) == datetime(2026, 11, 9, 8, 0, tzinfo=UTC)
    assert next_run(s, datetime(2026, 11, 9, 8, 0, tzinfo=UTC)) == datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
    daily = ReportSchedule(every="daily", weekday=0, hour=6)
    assert next_run(daily, wednesday) == datetime(2026, 11, 5, 6, 0, tzinfo=UTC)


def test_schedule_validation(session, desk):
    for kwargs, words in (
        ({"email_to": "not-an-address"}, "not an e-mail address"),
        ({"webhook_url": "ftp://x"}, "must start with http"),
        ({"email_to": "a@b.test", "format": "pdf"}, "unknown format"),
        ({"email_to": "a@b.test", "brand": "nope"}, "no brand"),
    ):
        with pytest.raises(ReportError, match=words):
            create_schedule(session, name="bad", **kwargs)


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Inbox(Message):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list = []

        def handle_message(self, message) -> None:
            self.messages.append(message)

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def webhook_server():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_a_due_weekly_report_is_emailed_and_posted(session, desk, smtp_server, webhook_server, monkeypatch):
    controller, inbox = smtp_server
    url, received = webhook_server
    monkeypatch.setenv("SOCIALDESK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SOCIALDESK_SMTP_PORT", str(controller.port))
    from socialdesk.analytics.settings import get_analytics_settings

    get_analytics_settings.cache_clear()
    now = datetime.now(UTC)
    added = desk.invoke(
        app, ["report", "schedule", "add", "monday care", "--email", "lead@acme.test", "--webhook", url]
    )
    assert added.exit_code == 0, added.output
    schedule = session.query(ReportSchedule).one()
    assert schedule.next_run_at > now and schedule.next_run_at.weekday() == 0
    assert run_due(session, now) == []  # not due yet
    schedule.next_run_at = now - timedelta(minutes=1)
    session.commit()
    ran = desk.invoke(app, ["report", "schedule", "run"])
    assert ran.exit_code == 0, ran.output
    assert "monday care: sent" in ran.stdout
    (mail,) = inbox.messages
    assert mail["To"] == "lead@acme.test" and mail["Subject"].startswith(
        "socialdesk weekly report: monday care"
    )
    assert "| New conversations | 2 |" in mail.get_payload()
    (post,) = received
    assert "| New conversations | 2 |" in post["text"]
    session.expire_all()
    assert session.get(ReportSchedule, schedule.id).next_run_at > now
    assert "no reports due" in desk.invoke(app, ["report", "schedule", "run"]).stdout


def test_a_failed_delivery_is_recorded_and_exits_non_zero(session, desk, monkeypatch):
    monkeypatch.setenv("SOCIALDESK_SMTP_PORT", str(free_port()))  # nothing listens there
    from socialdesk.analytics.settings import get_analytics_settings

    get_analytics_settings.cache_clear()
    schedule = create_schedule(session, name="broken", email_to="lead@acme.test")
    schedule.next_run_at = datetime.now(UTC) - timedelta(minutes=1)
    session.commit()
    ran = desk.invoke(app, ["report", "schedule", "run"])
    assert ran.exit_code == 1
    session.expire_all()
    assert "ConnectionRefusedError" in session.get(ReportSchedule, schedule.id).last_error
