"""The listening API (roles, errors), the CLI, and alert delivery to a real HTTP and SMTP server."""

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from socialdesk.auth.service import create_token
from socialdesk.listening import alerts
from socialdesk.listening.models import Alert, ListeningRule
from socialdesk.routing.models import Team
from tests import factories
from tests.listening.factories import established, message

NOW = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_background_delivery(monkeypatch):
    monkeypatch.setattr(alerts, "BACKGROUND_DELIVERY", False)
    monkeypatch.setattr(alerts, "WEBHOOK_BACKOFF_S", 0.01)


def _headers(session, role):
    token = create_token(session, f"{role}-token", role=role)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_rules_api_checks_roles_and_queries_and_previews(session, client):
    acct = factories.account(session)
    message(session, acct, "refund please", datetime.now(UTC) - timedelta(days=1), run_step=False)
    session.commit()
    sup, agent = _headers(session, "supervisor"), _headers(session, "agent")
    body = {"brand": acct.brand.slug, "name": "refunds", "kind": "brand", "query": "refund*"}
    assert client.post("/api/v1/listening/rules", json=body, headers=agent).status_code == 403
    bad = client.post("/api/v1/listening/rules", json={**body, "query": 'refund AND "late'}, headers=sup)
    assert bad.status_code == 422
    assert bad.json()["detail"]["position"] == 11 and "unterminated phrase" in bad.json()["detail"]["error"]
    assert session.scalar(select(ListeningRule.id)) is None
    created = client.post("/api/v1/listening/rules", json=body, headers=sup)
    assert created.status_code == 201
    rule_id = created.json()["id"]
    assert client.get("/api/v1/listening/rules", headers=agent).json()[0]["query"] == "refund*"
    preview = client.post(
        "/api/v1/listening/rules/preview", json={"query": "refund*", "since": "7d"}, headers=agent
    )
    assert preview.status_code == 200 and preview.json()["matched"] == 1
    patched = client.patch(
        f"/api/v1/listening/rules/{rule_id}", json={"query": "refund NOT pizza"}, headers=sup
    )
    assert patched.json()["query"] == "refund NOT pizza"
    assert (
        client.patch(f"/api/v1/listening/rules/{rule_id}", json={"kind": "vip"}, headers=sup).status_code
        == 422
    )
    assert client.delete(f"/api/v1/listening/rules/{rule_id}", headers=sup).status_code == 204
    assert client.get(f"/api/v1/listening/rules/{rule_id}", headers=agent).status_code == 404


def test_alerts_ack_snooze_and_crisis_over_the_api(session, client):
    acct = factories.account(session)
    established(session, acct, NOW)
    session.add(Team(slug="crisis", name="Crisis", is_crisis=True))
    rule = ListeningRule(brand_id=acct.brand_id, name="outage", query="outage")
    session.add(rule)
    session.flush()
    for i in range(40):
        message(session, acct, f"outage {i}", NOW + timedelta(seconds=10 * i))
    session.commit()
    sup, agent = _headers(session, "supervisor"), _headers(session, "agent")
    listed = client.get("/api/v1/listening/alerts?status=open", headers=agent).json()
    assert len(listed) == 1 and listed[0]["kind"] == "spike"
    alert_id = listed[0]["id"]
    assert client.post(f"/api/v1/listening/alerts/{alert_id}/ack", headers=agent).status_code == 403
    assert (
        client.post(
            f"/api/v1/listening/alerts/{alert_id}/snooze", json={"minutes": 0}, headers=sup
        ).status_code
        == 422
    )
    assert (
        client.post(f"/api/v1/listening/alerts/{alert_id}/snooze", json={"minutes": 30}, headers=sup).json()[
            "status"
        ]
        == "snoozed"
    )
    assert (
        client.post(f"/api/v1/listening/alerts/{alert_id}/ack", headers=sup).json()["status"]
        == "acknowledged"
    )
    assert client.post("/api/v1/listening/alerts/999/ack", headers=sup).status_code == 404
    declared = client.post(
        "/api/v1/listening/crises",
        json={"name": "Outage", "alert_id": alert_id, "holding_statement": "We know, we're on it."},
        headers=sup,
    )
    assert declared.status_code == 201 and declared.json()["query"] == "outage"
    crisis_id = declared.json()["id"]
    conv_id = session.scalars(select(Alert)).one().examples[0]["message_id"]
    from socialdesk.conversations.models import Message

    conversation_id = session.get(Message, conv_id).conversation_id
    statement = client.get(
        f"/api/v1/listening/crises/holding-statement?conversation_id={conversation_id}", headers=agent
    )
    assert statement.json()["holding_statement"] == "We know, we're on it."
    assert client.post("/api/v1/listening/crises", json={"name": "x"}, headers=sup).status_code == 422
    assert (
        client.post(
            f"/api/v1/listening/crises/{crisis_id}/close", json={"summary": "done"}, headers=agent
        ).status_code
        == 403
    )
    closed = client.post(f"/api/v1/listening/crises/{crisis_id}/close", json={"summary": "done"}, headers=sup)
    assert closed.json()["status"] == "closed" and closed.json()["summary"]["conversations_routed"] >= 1
    timeline = client.get(f"/api/v1/listening/crises/{crisis_id}/timeline", headers=agent).json()
    assert timeline["events"][0]["kind"] == "declared" and timeline["events"][-1]["kind"] == "closed"


class _FlakyReceiver(BaseHTTPRequestHandler):
    """A Slack-like receiver that fails the first two deliveries with 503."""

    received: list[dict] = []
    failures_left = 2

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        if cls.failures_left > 0:
            cls.failures_left -= 1
            self.send_response(503)
        else:
            cls.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class _Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope)
        return "250 OK"


def test_alerts_go_to_a_slack_compatible_webhook_with_retries_and_by_email(session):
    server = HTTPServer(("127.0.0.1", 0), _FlakyReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mailbox = _Mailbox()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    smtp_port = probe.getsockname()[1]
    probe.close()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        acct = factories.account(session)
        established(session, acct, NOW)
        hook = alerts.add_destination(
            session, kind="webhook", target=f"http://127.0.0.1:{server.server_port}/hook"
        )
        mail = alerts.add_destination(
            session,
            kind="email",
            target="oncall@example.com",
            options={"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "sender": "desk@example.com"},
        )
        with pytest.raises(alerts.AlertError, match="http"):
            alerts.add_destination(session, kind="webhook", target="ftp://x")
        with pytest.raises(alerts.AlertError, match="smtp_host"):
            alerts.add_destination(session, kind="email", target="a@b.c")
        rule = ListeningRule(brand_id=acct.brand_id, name="outage", query="outage")
        session.add(rule)
        session.flush()
        for i in range(40):
            message(session, acct, f"outage number {i}", NOW + timedelta(seconds=10 * i))
        alert = session.scalars(select(Alert)).one()
        results = alerts.deliver(session, alert)
        assert results[str(hook.id)]["status"] == "sent" and results[str(hook.id)]["attempts"] == 3
        assert results[str(mail.id)]["status"] == "sent"
        payload = _FlakyReceiver.received[0]
        assert payload["text"].startswith(":rotating_light: Spike in 'outage'")
        assert payload["blocks"][0]["type"] == "section" and payload["socialdesk"]["id"] == alert.id
        envelope = mailbox.messages[0]
        assert envelope.rcpt_tos == ["oncall@example.com"]
        assert b"Subject: [socialdesk] Spike in 'outage'" in envelope.content
    finally:
        server.shutdown()
        smtp.stop()
