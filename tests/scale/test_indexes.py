"""PostgreSQL uses an index for the queries that run all day (checked with EXPLAIN).

The desk holds a few thousand conversations, still small enough that a sequential scan can look
cheapest, so the planner is told to avoid one (enable_seqscan=off): the question is which index
serves the query best, and that it is one of ours rather than a filter over a broader one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Select, event, or_, select, text
from sqlalchemy.orm import Session

from socialdesk.conversations.models import Conversation, Message
from socialdesk.conversations.service import ConversationFilter, list_conversations
from socialdesk.routing.models import Agent, Team
from tests import factories

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def plan_of(session: Session, statement: str, params: object) -> str:
    session.execute(select(1))  # inside a transaction, so SET LOCAL holds for the EXPLAIN
    conn = session.connection()
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    rows = conn.exec_driver_sql("EXPLAIN " + statement, params).all()
    return "\n".join(r[0] for r in rows)


def plan_of_select(session: Session, query: Select) -> str:
    return plan_of_service_call(session, lambda: session.execute(query).all())


def plan_of_service_call(session: Session, call) -> str:
    """The plan of the SQL a call really sends to PostgreSQL (its last SELECT)."""
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, params = seen[-1]
    return plan_of(session, statement, params)


def uses(plan: str, index: str) -> bool:
    return index in plan and "Seq Scan on conversation" not in plan and "Seq Scan on message" not in plan


@pytest.fixture
def db_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def desk(session: Session) -> dict[str, int]:
    """A desk of realistic shape: 20 teams and 40 agents share 6,000 conversations in every state,
    few of them due within an SLA warning lead; statistics analysed as autovacuum would."""
    account = factories.account(session)
    teams = [Team(slug=f"team-{i}", name=f"Team {i}") for i in range(20)]
    agents = [Agent(email=f"agent{i}@example.com", name=f"Agent {i}") for i in range(40)]
    session.add_all(teams + agents)
    session.flush()
    session.execute(
        text(
            "INSERT INTO conversation (brand_id, account_id, platform, thread_key, generation, status, "
            "priority, team_id, assignee_id, labels, language, visibility, subject, first_message_at, "
            "last_message_at, message_count, sentiment, issue_type, urgency, first_response_due_at, "
            "next_response_due_at, resolution_due_at, resolved_at, created_at) "
            "SELECT :brand, :account, 'x', 't' || n, 1, "
            "(ARRAY['new','open','pending','snoozed','resolved','closed'])[1 + n % 6], 'normal', "
            ":team0 + n % 20, :agent0 + n % 40, '[]', '', 'public', '', "
            ":now - n * interval '1 minute', :now - n * interval '1 minute', 1, '', '', 0, "
            ":now + n * interval '1 hour', :now + n * interval '1 hour', :now + n * interval '2 hour', "
            "CASE WHEN n % 6 >= 4 THEN :now - n * interval '1 minute' END, :now "
            "FROM generate_series(1, 6000) n"
        ),
        {
            "brand": account.brand_id,
            "account": account.id,
            "now": NOW,
            "team0": teams[0].id,
            "agent0": agents[0].id,
        },
    )
    session.execute(text("ANALYZE conversation"))
    return {"team": teams[3].id, "agent": agents[7].id}


def test_the_inbox_newest_first_uses_the_recent_index(session, desk):
    plan = plan_of_service_call(session, lambda: list_conversations(session, ConversationFilter(), limit=50))
    assert uses(plan, "ix_conversation_recent"), plan


def test_the_inbox_by_status_uses_an_inbox_index(session, desk):
    plan = plan_of_service_call(
        session, lambda: list_conversations(session, ConversationFilter(status=["new", "open"]), limit=50)
    )
    assert uses(plan, "ix_conversation_inbox") or uses(plan, "ix_conversation_recent"), plan


def test_a_team_queue_uses_the_team_inbox_index(session, desk):
    plan = plan_of_service_call(
        session,
        lambda: list_conversations(
            session, ConversationFilter(team_id=desk["team"], status=["open"]), limit=50
        ),
    )
    assert uses(plan, "ix_conversation_team_inbox"), plan


def test_an_agents_queue_uses_an_assignee_index(session, desk):
    plan = plan_of_service_call(
        session,
        lambda: list_conversations(
            session, ConversationFilter(assignee=str(desk["agent"]), status=["open"]), limit=50
        ),
    )
    assert uses(plan, "ix_conversation_assignee"), plan


def test_the_sla_due_scan_uses_the_due_time_indexes(session, desk):
    horizon = NOW + timedelta(minutes=15)
    query = (
        select(Conversation)  # the scan of routing/sla.py: any clock due within the warning lead
        .where(
            Conversation.status.in_(["new", "open", "pending"]),
            or_(
                Conversation.first_response_due_at <= horizon,
                Conversation.next_response_due_at <= horizon,
                Conversation.resolution_due_at <= horizon,
            ),
        )
        .limit(500)
    )
    plan = plan_of_select(session, query)
    for index in ("ix_conversation_first_response_due", "ix_conversation_next_response_due"):
        assert uses(plan, index), plan
    assert "ix_conversation_resolution_due" in plan


def test_resolution_kpis_over_a_period_use_the_resolved_at_index(session, desk):
    query = select(Conversation.id, Conversation.first_message_at, Conversation.resolved_at).where(
        Conversation.resolved_at >= NOW - timedelta(days=7), Conversation.resolved_at < NOW
    )
    assert uses(plan_of_select(session, query), "ix_conversation_resolved_at")


def test_the_queue_sweeper_finds_unprocessed_messages_by_index(session):
    query = (
        select(Message.id)
        .where(Message.processed_at.is_(None), Message.received_at < NOW)
        .order_by(Message.id)
        .limit(1000)
    )
    assert uses(plan_of_select(session, query), "ix_message_unprocessed")
