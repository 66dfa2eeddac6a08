"""Automation: conditions, actions, no loops, dry-run, on the real pipeline step and ticker."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.automation import engine
from socialdesk.automation.conditions import Facts, evaluate
from socialdesk.automation.models import AutomationRun
from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.db.base import utcnow
from socialdesk.ingest.service import Ingestor, IngestReport
from socialdesk.routing.models import SlaPolicy
from socialdesk.routing.pipeline import routing_step
from socialdesk.routing.settings import get_config
from socialdesk.routing.sla import check_sla
from tests import factories as base
from tests.routing import factories as f


def inbound(session: Session, account, *, text="my order never arrived", at=None, **kw) -> Message:
    item = base.inbound(
        text=text, platform=account.platform, sent_at=at or utcnow() - timedelta(minutes=5), **kw
    )
    report = IngestReport()
    ingestor = Ingestor(session)
    ingestor.prime(account, [item])
    message = ingestor.store(account, item, report)
    ingestor.finish(report)
    assert message is not None
    return message


def triaged(message: Message, *, language: str, sentiment: str, urgency: int = 10) -> Message:
    """Set what the triage step would have set (the step itself is tested in tests/triage)."""
    message.language, message.sentiment, message.urgency = language, sentiment, urgency
    assert message.conversation is not None
    message.conversation.language = language
    message.conversation.sentiment = sentiment
    message.conversation.urgency = urgency
    return message


def runs(session: Session, rule_id: int | None = None) -> int:
    query = select(func.count()).select_from(AutomationRun)
    if rule_id is not None:
        query = query.where(AutomationRun.rule_id == rule_id)
    return session.scalar(query) or 0


# --- conditions ---------------------------------------------------------------------------


def test_conditions_combine_with_and_or(session):
    c = f.conversation(session, platform="instagram", language="de", urgency=40, labels=["billing"], vip=True)
    facts = Facts(session, c)
    ig_and_de = {
        "all": [
            {"field": "platform", "op": "eq", "value": "instagram"},
            {"field": "language", "op": "eq", "value": "de"},
        ]
    }
    assert evaluate(ig_and_de, facts)
    either = {
        "any": [
            {"field": "platform", "op": "eq", "value": "x"},
            {"field": "urgency", "op": "gte", "value": 40},
        ]
    }
    assert evaluate(either, facts)
    neither = {
        "any": [
            {"field": "platform", "op": "eq", "value": "x"},
            {"field": "urgency", "op": "gt", "value": 40},
        ]
    }
    assert not evaluate(neither, facts)
    nested = {
        "all": [
            {"field": "vip", "op": "is", "value": True},
            {"any": [neither, {"field": "label", "op": "has", "value": "billing"}]},
        ]
    }
    assert evaluate(nested, facts)
    assert evaluate({}, facts)  # no conditions: always


def test_text_tag_and_follower_conditions(session):
    account = base.account(session, "x")
    message = inbound(session, account, text="Mein Paket ist BESCHÄDIGT angekommen", followers=25_000)
    c = message.conversation
    c.customer.tags = ["Influencer"]
    facts = Facts(session, c, message)
    assert evaluate({"field": "text", "op": "contains", "value": "beschädigt"}, facts)
    assert evaluate({"field": "customer_tag", "op": "has", "value": "influencer"}, facts)
    assert evaluate({"field": "followers", "op": "gte", "value": 10_000}, facts)
    assert not evaluate({"field": "text", "op": "not_contains", "value": "paket"}, facts)


def test_within_business_hours_uses_the_team_calendar(session):
    from socialdesk.routing.models import BusinessCalendar

    team = f.team(session)
    session.add(
        BusinessCalendar(
            name="office", team_id=team.id, timezone="UTC", schedule={"mon": [["09:00", "17:00"]]}
        )
    )
    c = f.conversation(session, team_id=team.id)
    monday_noon = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    cond = {"field": "within_business_hours", "op": "is", "value": True}
    assert evaluate(cond, Facts(session, c, now=monday_noon))
    assert not evaluate(cond, Facts(session, c, now=monday_noon + timedelta(hours=6)))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"event": "tweeted"}, "unknown event"),
        ({"conditions": {"field": "mood", "op": "eq", "value": "x"}}, "unknown field"),
        ({"conditions": {"field": "urgency", "op": "contains", "value": "x"}}, "takes"),
        ({"conditions": {"field": "urgency", "op": "gte", "value": "high"}}, "integer"),
        ({"conditions": {"all": []}}, "non-empty list"),
        ({"conditions": {"all": [{"field": "platform"}]}}, r"conditions.all\[0\]"),
        ({"actions": []}, "non-empty"),
        ({"actions": [{"type": "explode"}]}, "type must be one of"),
        ({"actions": [{"type": "assign_team", "team_id": 9999}]}, "existing team"),
        ({"actions": [{"type": "set_priority", "priority": "asap"}]}, "priority must be"),
        ({"actions": [{"type": "webhook", "url": "ftp://x"}]}, "http"),
        ({"actions": [{"type": "send_template", "template_id": 9999}]}, "does not exist"),
    ],
)
def test_bad_rules_are_rejected_with_the_place_that_is_wrong(session, spec, message):
    values = {
        "name": "r",
        "event": "message_created",
        "conditions": {},
        "actions": [{"type": "resolve"}],
        **spec,
    }
    with pytest.raises(engine.AutomationError, match=message):
        engine.create_rule(session, **values)


# --- actions through the pipeline step -------------------------------------------------


def test_instagram_german_negative_goes_to_team_de_with_high_priority(session):
    de = f.team(session, "de")
    berta = f.agent(session, "Berta", teams=[de])
    engine.create_rule(
        session,
        name="German complaints on Instagram",
        event="message_created",
        conditions={
            "all": [
                {"field": "platform", "op": "eq", "value": "instagram"},
                {"field": "language", "op": "eq", "value": "de"},
                {"field": "sentiment", "op": "eq", "value": "negative"},
            ]
        },
        actions=[{"type": "assign_team", "team_id": de.id}, {"type": "set_priority", "priority": "high"}],
    )
    account = base.account(session, "instagram")
    angry = triaged(
        inbound(session, account, text="Das ist eine Frechheit"), language="de", sentiment="negative"
    )
    routing_step(session, angry)
    c = angry.conversation
    assert (c.team_id, c.assignee_id, c.priority) == (de.id, berta.id, "high")

    happy = triaged(inbound(session, account, text="Danke!"), language="de", sentiment="positive")
    routing_step(session, happy)
    assert happy.conversation.priority == "normal"


def test_the_step_routes_once_and_a_redelivered_message_changes_nothing(session):
    f.agent(session, "Only")
    account = base.account(session, "x")
    message = inbound(session, account)
    routing_step(session, message)
    first = message.conversation.assignee_id
    assert first is not None
    message.processed_at = utcnow()
    count = select(func.count()).select_from(ConversationEvent)
    events_before = session.scalar(count)
    routing_step(session, message)
    assert session.scalar(count) == events_before
    assert message.conversation.assignee_id == first


def test_a_rules_own_actions_never_retrigger_it(session):
    a, b = f.team(session, "a"), f.team(session, "b")
    # Each rule reacts to any assignment by moving the conversation: a ping-pong without the guard.
    to_a = engine.create_rule(
        session,
        name="to a",
        event="assignment_changed",
        conditions={},
        actions=[{"type": "assign_team", "team_id": a.id}],
    )
    to_b = engine.create_rule(
        session,
        name="to b",
        event="assignment_changed",
        conditions={},
        actions=[{"type": "assign_team", "team_id": b.id}],
    )
    c = f.conversation(session)
    from socialdesk.routing.service import assign

    assign(session, c, agent_id=None, team_id=a.id, actor=None)
    assert runs(session, to_b.id) >= 1  # the rules did run...
    assert runs(session, to_a.id) <= engine.MAX_CHAIN
    # ...and stopped: each rule at most once per link of the chain.
    assert runs(session, to_b.id) <= engine.MAX_CHAIN
    assert runs(session) <= 2 * engine.MAX_CHAIN


def test_updates_seen_by_the_ticker_do_not_loop_either(session):
    from socialdesk.conversations.actions import set_priority

    get_config(session)  # the ticker starts from the history that exists now
    up = engine.create_rule(
        session,
        name="up",
        event="conversation_updated",
        conditions={},
        actions=[{"type": "add_label", "labels": ["seen"]}],
    )
    flip = engine.create_rule(
        session,
        name="flip",
        event="conversation_updated",
        conditions={"field": "label", "op": "has", "value": "seen"},
        actions=[{"type": "remove_label", "labels": ["seen"]}],
    )
    c = f.conversation(session)
    set_priority(session, c, "high", actor=None)
    for _ in range(6):
        check_sla(session, utcnow())
    assert runs(session, up.id) == 1
    assert runs(session, flip.id) <= 1


def test_breach_events_run_rules_that_escalate(session):
    senior = f.team(session, "senior", is_senior=True)
    boss = f.agent(session, "Boss", teams=[senior])
    session.add(SlaPolicy(name="fast", platform="", priority="", first_response_minutes=30))
    engine.create_rule(
        session,
        name="escalate breaches",
        event="sla_breach",
        conditions={"field": "sla_target", "op": "eq", "value": "first_response"},
        actions=[{"type": "escalate"}],
    )
    account = base.account(session, "x")
    t0 = utcnow() - timedelta(hours=2)
    message = inbound(session, account, at=t0)
    routing_step(session, message)
    check_sla(session, utcnow())
    c = message.conversation
    assert (c.team_id, c.assignee_id, c.priority) == (senior.id, boss.id, "high")


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hook_url():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_posts_the_event_and_a_failing_action_does_not_stop_the_others(session, hook_url):
    engine.create_rule(
        session,
        name="tell slack",
        event="conversation_created",
        conditions={},
        actions=[
            {"type": "webhook", "url": "http://127.0.0.1:9/nobody-listens"},
            {"type": "webhook", "url": hook_url},
            {"type": "add_label", "labels": ["announced"]},
        ],
    )
    account = base.account(session, "x")
    message = inbound(session, account)
    routing_step(session, message)
    assert len(_Hook.received) == 1
    body = _Hook.received[0]
    assert body["event"] == "conversation_created" and body["conversation"]["id"] == message.conversation_id
    assert "text" in body  # Slack-compatible
    run = session.scalars(select(AutomationRun)).one()
    assert [r["ok"] for r in run.results] == [False, True, True]
    assert message.conversation.labels == ["announced"]


def test_send_template_queues_an_approved_reply(session):
    from socialdesk.assist.templates import TemplateInput, create_template, set_approval

    template = create_template(
        session,
        TemplateInput(name="ack", bodies={"en": "Hi {{ customer.first_name }}, we're on it."}),
        actor=None,
    )
    draft = create_template(session, TemplateInput(name="draft", bodies={"en": "draft"}), actor=None)
    with pytest.raises(engine.AutomationError, match="approved"):
        engine.create_rule(
            session,
            name="x",
            event="conversation_created",
            conditions={},
            actions=[{"type": "send_template", "template_id": draft.id}],
        )
    set_approval(session, template, "approved", actor=None)
    engine.create_rule(
        session,
        name="ack",
        event="conversation_created",
        conditions={},
        actions=[{"type": "send_template", "template_id": template.id}],
    )
    account = base.account(session, "x", access_token="tok")
    message = inbound(session, account, author_id="kim")
    routing_step(session, message)
    outbound = session.scalars(select(Message).where(Message.direction == "outbound")).all()
    assert len(outbound) == 1 and outbound[0].text.startswith("Hi Name")
    assert outbound[0].conversation_id == message.conversation_id


def test_snooze_and_resolve_actions(session):
    engine.create_rule(
        session,
        name="spam",
        event="message_created",
        conditions={"field": "text", "op": "contains", "value": "free crypto"},
        actions=[{"type": "mute"}],
    )
    engine.create_rule(
        session,
        name="later",
        event="message_created",
        conditions={"field": "text", "op": "contains", "value": "next week"},
        actions=[{"type": "snooze", "minutes": 60}],
    )
    account = base.account(session, "x")
    spam = inbound(session, account, text="FREE CRYPTO here")
    routing_step(session, spam)
    assert spam.conversation.status == "resolved" and "muted" in spam.conversation.labels
    later = inbound(session, account, text="I'll call next week")
    routing_step(session, later)
    assert later.conversation.status == "snoozed" and later.conversation.snoozed_until is not None


# --- dry run ------------------------------------------------------------------------------


def test_dry_run_counts_matches_in_history_and_changes_nothing(session):
    account = base.account(session, "x")
    now = utcnow()
    for i, text in enumerate(["refund please", "where is my refund", "love it", "old refund"]):
        at = now - (timedelta(days=30) if text == "old refund" else timedelta(hours=i + 1))
        inbound(session, account, text=text, at=at)
    session.flush()
    conversations_before = [
        (c.id, c.status, c.priority, c.labels) for c in session.scalars(select(Conversation))
    ]
    result = engine.dry_run(
        session, event="message_created", conditions={"field": "text", "op": "contains", "value": "refund"}
    )
    assert (result.examined, result.matched) == (3, 2)
    assert {s["message_id"] is not None for s in result.samples} == {True}
    assert runs(session) == 0
    assert [
        (c.id, c.status, c.priority, c.labels) for c in session.scalars(select(Conversation))
    ] == conversations_before
    with pytest.raises(engine.AutomationError, match="since must be before until"):
        engine.dry_run(
            session, event="message_created", conditions={}, since=now, until=now - timedelta(days=1)
        )


def test_a_team_rule_does_not_reshuffle_a_conversation_already_in_that_team(session):
    de = f.team(session, "de")
    f.agent(session, "One", teams=[de])
    f.agent(session, "Two", teams=[de])
    rule = engine.create_rule(
        session,
        name="de",
        event="message_created",
        conditions={},
        actions=[{"type": "assign_team", "team_id": de.id}],
    )
    account = base.account(session, "x")
    first = inbound(session, account, author_id="same", thread_key="t-1")
    routing_step(session, first)
    holder = first.conversation.assignee_id
    second = inbound(session, account, author_id="same", thread_key="t-1", text="hello again?")
    assert second.conversation_id == first.conversation_id
    routing_step(session, second)
    assert first.conversation.assignee_id == holder
    last = session.scalars(
        select(AutomationRun).where(AutomationRun.rule_id == rule.id).order_by(AutomationRun.id.desc())
    ).first()
    assert "skipped" in last.results[0]


def test_crisis_team_keeps_its_conversations_even_when_urgent(session):
    from socialdesk.routing import service

    crisis = f.team(session, "crisis", is_crisis=True)
    f.team(session, "senior", is_senior=True)
    c = f.conversation(session, urgency=95, team_id=crisis.id)
    assert service.route(session, c).reason == "crisis"
    assert c.team_id == crisis.id


def test_crisis_mode_pauses_automatic_template_replies(session):
    from socialdesk.assist.templates import TemplateInput, create_template, set_approval
    from socialdesk.listening.crisis import declare

    template = create_template(session, TemplateInput(name="ack", bodies={"en": "We're on it."}), actor=None)
    set_approval(session, template, "approved", actor=None)
    rule = engine.create_rule(
        session,
        name="ack",
        event="conversation_created",
        conditions={},
        actions=[
            {"type": "send_template", "template_id": template.id},
            {"type": "add_label", "labels": ["acked"]},
        ],
    )
    f.team(session, "crisis-room", is_crisis=True)
    declare(session, name="recall", actor="supervisor", query="recall", pause_all_automation=True)
    account = base.account(session, "x", access_token="tok")
    message = inbound(session, account, text="my order")
    routing_step(session, message)
    assert session.scalars(select(Message).where(Message.direction == "outbound")).all() == []
    run = session.scalars(select(AutomationRun).where(AutomationRun.rule_id == rule.id)).one()
    assert "crisis" in run.results[0]["skipped"]
    assert message.conversation.labels == ["acked"]  # other actions still run
