"""Indexes for the queries that run all day at scale: the inbox, SLA scans, KPIs and the sweeper.

They are declared here (not in the domains' models) because they are a tuning concern of the
scale-out; migration 0600 creates them, on PostgreSQL with CREATE INDEX CONCURRENTLY so a live
database keeps taking writes while they build. tests/scale/test_indexes.py checks with EXPLAIN
that the key queries use them.
"""

from sqlalchemy import Index

from socialdesk.conversations.models import Conversation, Message

SCALE_INDEXES: tuple[Index, ...] = (
    # The inbox without a status filter, newest first, with its (last_message_at, id) cursor.
    Index("ix_conversation_recent", Conversation.last_message_at, Conversation.id),
    # A team's and an agent's queues, by state, newest first.
    Index(
        "ix_conversation_team_inbox", Conversation.team_id, Conversation.status, Conversation.last_message_at
    ),
    Index(
        "ix_conversation_assignee_inbox",
        Conversation.assignee_id,
        Conversation.status,
        Conversation.last_message_at,
    ),
    Index("ix_conversation_brand_recent", Conversation.brand_id, Conversation.last_message_at),
    # SLA scans: what is due (or breached) before a time.
    Index("ix_conversation_first_response_due", Conversation.first_response_due_at),
    Index("ix_conversation_next_response_due", Conversation.next_response_due_at),
    Index("ix_conversation_resolution_due", Conversation.resolution_due_at),
    # KPIs over a date range: volume by first message, resolution times by resolution.
    Index("ix_conversation_first_message_at", Conversation.first_message_at),
    Index("ix_conversation_resolved_at", Conversation.resolved_at),
    # The queue's sweeper: stored messages not processed yet, oldest first.
    Index("ix_message_unprocessed", Message.processed_at, Message.received_at),
)
