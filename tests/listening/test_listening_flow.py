"""Rules → mentions → counters → alerts (once per spike) → crisis routing, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from socialdesk.conversations.models import Conversation, ConversationEvent
from socialdesk.listening import alerts, crisis, service
from socialdesk.listening.models import Alert, CrisisEvent, Mention
from socialdesk.routing.models import Team
from tests import factories
from tests.listening.factories import established, message, seed_counts

NOW = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


@pytest.fixture(autouse=True)
def _no_background_delivery(monkeypatch):
    monkeypatch.setattr(alerts, "BACKGROUND_DELIVERY", False)


def test_a_message_is_stored_as_a_mention_with_every_rule_it_matched(session):
    acct = factories.account(session, handle="AcmeCare")
    brand = acct.brand
    shipping = service.create_rule(session, brand=brand.slug, name="shipping", query="deliver* OR shipping")
    product = service.create_rule(
        session, brand=brand.slug, name="phone", kind="product", query='"acme phone"'
    )
    service.create_rule(session, brand=brand.slug, name="rival", kind="competitor", query="globex")
    msg = message(session, acct, "My ACME phone delivery is late", NOW, mention=True)
    other = message(session, acct, "pineapples are great", NOW)
    mention = session.scalars(select(Mention).where(Mention.message_id == msg.id)).one()
    assert mention.rule_ids == sorted([shipping.id, product.id])
    assert msg.kind == "mention"
    assert session.scalar(select(func.count(Mention.id)).where(Mention.message_id == other.id)) == 0
    listed = service.list_mentions(session, rule_id=product.id)
    assert [m["message_id"] for m in listed] == [msg.id]


def test_rule_input_is_checked_and_nothing_is_saved_on_error(session):
    brand = factories.brand(session, "acme")
    with pytest.raises(service.RuleError) as err:
        service.create_rule(session, brand="acme", name="bad", query="refund AND (late")
    assert err.value.details["position"] == 16  # the end, where ")" was expected
    with pytest.raises(service.RuleError, match="unknown rule kind"):
        service.create_rule(session, brand="acme", name="x", kind="vip", query="refund")
    with pytest.raises(service.RuleError, match="does not exist"):
        service.create_rule(session, brand="nope", name="x", query="refund")
    service.create_rule(session, brand=brand.id, name="refunds", query="refund*")
    with pytest.raises(service.RuleError, match="already has a rule"):
        service.create_rule(session, brand="acme", name="refunds", query="refund")
    other = service.create_rule(session, brand="acme", name="returns", query="return*")
    with pytest.raises(service.RuleError, match="already has a rule"):
        service.update_rule(session, other, name="refunds")
    with pytest.raises(service.RuleError, match="invalid query"):
        service.update_rule(session, other, query="NOT")
    assert (other.name, other.query) == ("returns", "return*")


def test_preview_counts_what_a_query_would_have_matched_in_the_period(session):
    acct = factories.account(session)
    for days_ago, text in [(1, "refund please"), (2, "REFUND now"), (3, "love it"), (9, "refund old")]:
        message(session, acct, text, NOW - timedelta(days=days_ago), run_step=False)
    result = service.preview(session, "refund*", since="7d", now=NOW)
    assert (result["matched"], result["scanned"]) == (2, 3)
    assert {s["text"] for s in result["samples"]} == {"refund please", "REFUND now"}
    with pytest.raises(service.RuleError, match="invalid period"):
        service.preview(session, "refund", since="seven days", now=NOW)


def test_a_spike_raises_one_alert_while_it_lasts_and_a_new_one_after(session):
    acct = factories.account(session)
    established(session, acct, NOW)
    rule = service.create_rule(session, brand=acct.brand.slug, name="outage", query="down OR outage")
    for day in range(1, 8):  # a week of history: 1 a minute around this time of day
        seed_counts(session, f"rule:{rule.id}", NOW - timedelta(days=day, minutes=40), 80, 1)
    for i in range(45):  # 45 in nine minutes: ~5x the usual 10 per window
        message(session, acct, f"app is down again {i}", NOW + timedelta(seconds=12 * i))
    for i in range(30):  # it goes on for another half hour: the same spike
        message(session, acct, f"still down {i}", NOW + timedelta(minutes=10, seconds=20 * i))
    spikes = session.scalars(select(Alert).where(Alert.kind == "spike")).all()
    assert len(spikes) == 1
    alert = spikes[0]
    assert alert.rule_id == rule.id and alert.observed >= 30 and 9 <= alert.expected <= 11
    assert alert.score > 5 and alert.examples and "down" in alert.examples[0]["text"]
    assert alert.last_seen_at > alert.first_seen_at
    alerts.acknowledge(session, alert.id, "sup")
    for i in range(45):  # two hours later, a new burst: a new alert
        message(session, acct, f"down down {i}", NOW + timedelta(hours=3, seconds=12 * i))
    assert session.scalar(select(func.count(Alert.id)).where(Alert.kind == "spike")) == 2


def test_a_snoozed_alert_stays_quiet_until_the_snooze_ends(session):
    acct = factories.account(session)
    established(session, acct, NOW)
    rule = service.create_rule(session, brand=acct.brand.slug, name="outage", query="outage")
    for i in range(40):
        message(session, acct, f"outage {i}", NOW + timedelta(seconds=10 * i))
    alert = session.scalars(select(Alert).where(Alert.rule_id == rule.id)).one()
    alerts.snooze(session, alert.id, 120, "sup", now=NOW)
    assert alert.status == "snoozed"
    with pytest.raises(alerts.AlertError):
        alerts.snooze(session, alert.id, 0, "sup")
    for i in range(40):  # 90 minutes later, still spiking: still snoozed, no second alert
        message(session, acct, f"outage again {i}", NOW + timedelta(minutes=90, seconds=10 * i))
    assert session.scalar(select(func.count(Alert.id))) == 1
    assert alert.status == "snoozed"


def test_negative_messages_no_rule_names_surface_as_an_emerging_issue(session):
    acct = factories.account(session)
    service.create_rule(session, brand=acct.brand.slug, name="shipping", query="shipping")
    texts = ["my mascara tube is leaky", "leaky mascara tube, ruined bag", "Leaky mascara tube again?!"]
    for i in range(12):
        message(
            session, acct, texts[i % 3], NOW + timedelta(minutes=3 * i), sentiment="negative", author=f"c{i}"
        )
    found = session.scalars(select(Alert).where(Alert.kind == "emerging")).all()
    assert len(found) == 1
    assert "mascara tube" in found[0].data["label"] and found[0].title.startswith("Emerging issue")


def test_crisis_routes_matching_open_conversations_pauses_automation_and_keeps_a_timeline(session):
    acct = factories.account(session)
    team = Team(slug="crisis", name="Crisis room", is_crisis=True)
    session.add(team)
    session.flush()
    burnt = message(session, acct, "my charger caught fire!!", NOW - timedelta(hours=1), sentiment="negative")
    calm = message(session, acct, "where is my order", NOW - timedelta(hours=1))
    with pytest.raises(crisis.CrisisError, match="invalid query"):
        crisis.declare(session, name="x", actor="sup", query="fire AND (")
    c = crisis.declare(
        session,
        name="Charger fires",
        actor="sup",
        query="fire OR burn* OR smoke",
        now=NOW - timedelta(minutes=30),
        holding_statement="We are investigating reports about chargers. Please unplug yours.",
    )
    conv = session.get(Conversation, burnt.conversation_id)
    assert "crisis" in conv.labels and conv.team_id == team.id
    assert crisis.automation_paused(session, conv)
    assert not crisis.automation_paused(session, session.get(Conversation, calm.conversation_id))
    assert crisis.holding_statement(session, conv.id)["holding_statement"].startswith("We are investigating")
    assert (
        session.scalar(select(ConversationEvent).where(ConversationEvent.kind == "crisis.routed")) is not None
    )
    # new matching messages after the declaration are routed by the pipeline step
    later = message(session, acct, "smoke coming out of the charger", NOW, sentiment="negative")
    assert session.get(Conversation, later.conversation_id).team_id == team.id
    crisis.record_action(session, c.id, "Posted statement on X", "sup")
    tl = crisis.timeline(session, c.id, bucket_minutes=60)
    assert sum(b["messages"] for b in tl["volume"]) == 1 and tl["volume"][0]["negative"] == 1
    assert [e["kind"] for e in tl["events"]][:1] == ["declared"] and "action" in [
        e["kind"] for e in tl["events"]
    ]
    closed = crisis.close(session, c.id, "Supplier recall; statement posted.", "sup")
    assert closed.summary["conversations_routed"] == 2 and closed.summary["messages"] == 1
    assert not crisis.automation_paused(session, conv)
    with pytest.raises(crisis.CrisisError, match="already closed"):
        crisis.close(session, c.id, "again", "sup")
    assert session.scalar(select(func.count(CrisisEvent.id)).where(CrisisEvent.kind == "closed")) == 1


def test_a_crisis_needs_a_crisis_team(session):
    factories.brand(session, "acme")
    with pytest.raises(crisis.CrisisError, match="no crisis team"):
        crisis.declare(session, name="x", actor="sup", query="fire")


def test_issue_type_and_negative_share_spikes_use_triage_fields(session):
    acct = factories.account(session)
    brand_id = acct.brand_id
    # Usual: 1 refund message a minute, 4 messages a minute, 1 in 4 negative; the past week around
    # this hour and today's hours so far (today's level against the same hours of past days).
    for day in range(0, 8):
        start = NOW - timedelta(days=day, minutes=280)
        minutes = 280 if day == 0 else 320
        seed_counts(session, f"brand:{brand_id}:issue:refund_billing", start, minutes, 1)
        seed_counts(session, f"brand:{brand_id}:all", start, minutes, 4)
        seed_counts(session, f"brand:{brand_id}:negative", start, minutes, 1)
    for i in range(50):  # ten minutes of angry refund demands
        message(
            session,
            acct,
            f"where is my money {i}",
            NOW + timedelta(seconds=12 * i),
            sentiment="negative",
            issue="refund_billing",
        )
    kinds = {a.kind: a for a in session.scalars(select(Alert))}
    assert set(kinds) == {"issue_spike", "negative_share"}
    assert kinds["issue_spike"].series == f"brand:{brand_id}:issue:refund_billing"
    assert kinds["negative_share"].observed > 0.5 and kinds["negative_share"].expected == 0.25


def test_the_listening_step_runs_right_after_triage_in_the_pipeline(session):
    from socialdesk import pipeline
    from socialdesk.listening.service import listening_step

    assert pipeline.STEPS.index(listening_step) == pipeline.STEPS.index(pipeline.triage_step) + 1
    acct = factories.account(session)
    service.create_rule(session, brand=acct.brand.slug, name="refunds", query="refund*")
    msg = message(session, acct, "I want a refund now, this is terrible", NOW, run_step=False)
    msg.sentiment = msg.issue_type = ""
    pipeline.process_message(session, msg.id)
    assert session.scalar(select(Mention).where(Mention.message_id == msg.id)) is not None
    pipeline.process_message(session, msg.id)  # redelivered: nothing twice
    assert session.scalar(select(func.count(Mention.id))) == 1


def test_a_brand_without_an_hour_of_history_raises_no_volume_spike_yet(session):
    acct = factories.account(session)
    service.create_rule(session, brand=acct.brand.slug, name="outage", query="outage")
    for i in range(40):
        message(session, acct, f"outage {i}", NOW + timedelta(seconds=10 * i))
    assert session.scalar(select(func.count()).select_from(Alert)) == 0


def test_a_few_old_messages_are_not_enough_history_for_volume_spikes(session):
    acct = factories.account(session)
    seed_counts(session, f"brand:{acct.brand_id}:all", NOW - timedelta(days=300), 20, 1)
    service.create_rule(session, brand=acct.brand.slug, name="outage", query="outage")
    for i in range(40):
        message(session, acct, f"outage {i}", NOW + timedelta(seconds=10 * i))
    assert session.scalar(select(func.count()).select_from(Alert)) == 0


def test_database_counts_answer_many_ranges_in_one_query_like_single_totals(session):
    import random

    from sqlalchemy import event

    rng = random.Random(2)
    for m in rng.sample(range(3000), 400):
        seed_counts(session, "rule:9", NOW - timedelta(minutes=m), 1, rng.randrange(1, 5))
    counts = service.DbCounts(session)
    ranges = []
    for _ in range(60):
        a, b = sorted(rng.sample(range(3100), 2))
        ranges.append((NOW - timedelta(minutes=b), NOW - timedelta(minutes=a)))
    single = [counts.total("rule:9", a, b) for a, b in ranges]
    statements: list[str] = []
    engine = session.get_bind()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert counts.totals("rule:9", ranges) == single
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) == 1 and sum(single) > 0
