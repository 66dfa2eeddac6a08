"""`socialdesk ingest`: TWCS CSV and JSONL files, and every way a file can be bad."""

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from socialdesk.cli import app
from socialdesk.conversations.models import Conversation, Message
from socialdesk.customers.models import Customer

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "twcs" / "sample.csv"
runner = CliRunner()


def ingest(*args: str):
    return runner.invoke(app, ["ingest", *args])


def report(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture(autouse=True)
def fast_triage(monkeypatch):
    monkeypatch.setenv("SOCIALDESK_TRIAGE_TIER", "fast")


def test_the_twcs_sample_imports_into_threads_with_brand_answers(settings, session):
    first = report(ingest(str(SAMPLE), "--format", "twcs", "--json"))
    assert first["messages"] == 93 and first["dead_letters"] == 0
    assert first["conversations"] > 0 and first["customers"] > 0
    assert first["duplicates"] == 0
    outbound = session.scalar(
        select(func.count()).select_from(Message).where(Message.direction == "outbound")
    )
    assert outbound > 0
    answered = session.scalars(select(Conversation).where(Conversation.first_response_at.is_not(None))).all()
    assert answered, "brand replies give conversations their first response time"
    for conversation in answered:
        assert conversation.first_response_at >= conversation.first_message_at


def test_importing_the_same_file_twice_changes_nothing(settings, session):
    report(ingest(str(SAMPLE), "--format", "twcs", "--json"))
    again = report(ingest(str(SAMPLE), "--format", "twcs", "--json"))
    assert again["messages"] == 0 and again["duplicates"] == 93
    assert session.scalar(select(func.count()).select_from(Message)) == 93


def test_invalid_utf8_is_refused_whole_with_the_line(settings, session, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(SAMPLE.read_bytes()[:400] + b"\xff\xfe broken\n")
    result = ingest(str(bad), "--format", "twcs", "--json")
    assert result.exit_code != 0
    assert "not valid UTF-8" in result.output
    assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_a_csv_with_missing_columns_is_refused_and_names_them(settings, session, tmp_path):
    bad = tmp_path / "cols.csv"
    bad.write_text("tweet_id,author_id,text\n1,2,hello\n")
    result = ingest(str(bad), "--format", "twcs")
    assert result.exit_code != 0
    assert "missing column(s) inbound, created_at" in result.output


def test_a_bad_row_is_a_dead_letter_and_the_rest_go_in(settings, session, tmp_path):
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    broken = tmp_path / "row.csv"
    broken.write_text(
        lines[0] + "999,someone,maybe,not a date,hello,,\n" + "".join(lines[1:]), encoding="utf-8"
    )
    out = report(ingest(str(broken), "--format", "twcs", "--json"))
    assert out["dead_letters"] == 1 and out["messages"] == 93


def test_unknown_format_and_missing_file_are_clear_errors(settings, tmp_path):
    assert "unknown format" in ingest(str(SAMPLE), "--format", "xml").output
    result = ingest(str(tmp_path / "nope.csv"), "--format", "twcs")
    assert result.exit_code != 0 and "does not exist" in result.output


def test_jsonl_imports_our_schema_and_dead_letters_bad_lines(settings, session, tmp_path):
    from tests import factories

    factories.account(session, "telegram", slug="acme-tg")
    session.commit()
    rows = [
        {
            "platform": "telegram",
            "account": "acme-tg",
            "external_id": "1",
            "thread_key": "chat-5",
            "author": {"id": "5", "handle": "anna", "name": "Anna"},
            "text": "Hallo, wo ist mein Paket?",
            "sent_at": "2026-11-02T10:00:00Z",
            "public": False,
        },
        {
            "platform": "telegram",
            "account": "acme-tg",
            "external_id": "2",
            "thread_key": "chat-5",
            "author": {"id": "5"},
            "text": "Bestellung 12345",
            "sent_at": "2026-11-02T10:01:00Z",
            "public": False,
        },
        {
            "platform": "telegram",
            "account": "nobody",
            "external_id": "3",
            "author": {"id": "5"},
            "text": "x",
            "sent_at": "2026-11-02T10:01:00Z",
        },
        {"platform": "telegram", "account": "acme-tg", "external_id": "4"},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    out = report(ingest(str(path), "--format", "jsonl", "--json"))
    assert out["messages"] == 2 and out["conversations"] == 1 and out["customers"] == 1
    assert out["dead_letters"] == 3
    assert session.scalar(select(func.count()).select_from(Customer)) == 1
    listed = runner.invoke(app, ["dead-letters", "list", "--json"])
    reasons = [d["reason"] for d in json.loads(listed.output)]
    assert any("no telegram account named 'nobody'" in r for r in reasons)
    assert any("missing field(s)" in r for r in reasons)
