"""indexes for the inbox, SLA scans, KPIs and the queue sweeper (issue 8)

On PostgreSQL every index is built with CREATE INDEX CONCURRENTLY outside a transaction, so a
live database keeps serving reads and writes while it builds (see docs/deploy.md, "Migrations
on a live database"). IF NOT EXISTS makes a re-run after an interrupted build safe; an
interrupted concurrent build leaves an INVALID index that must be dropped first (the doc says how).

Revision ID: 0600
Revises: 0001
Create Date: 2026-11-23 15:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0600"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: list[tuple[str, str, list[str]]] = [
    ("ix_conversation_recent", "conversation", ["last_message_at", "id"]),
    ("ix_conversation_team_inbox", "conversation", ["team_id", "status", "last_message_at"]),
    ("ix_conversation_assignee_inbox", "conversation", ["assignee_id", "status", "last_message_at"]),
    ("ix_conversation_brand_recent", "conversation", ["brand_id", "last_message_at"]),
    ("ix_conversation_first_response_due", "conversation", ["first_response_due_at"]),
    ("ix_conversation_next_response_due", "conversation", ["next_response_due_at"]),
    ("ix_conversation_resolution_due", "conversation", ["resolution_due_at"]),
    ("ix_conversation_first_message_at", "conversation", ["first_message_at"]),
    ("ix_conversation_resolved_at", "conversation", ["resolved_at"]),
    ("ix_message_unprocessed", "message", ["processed_at", "received_at"]),
]


def _can_build_concurrently() -> bool:
    """PostgreSQL, and Alembic owns the transaction (the `alembic upgrade heads` command). Inside a
    caller's transaction (``socialdesk db upgrade``, which also creates fresh databases) the index
    is built in that transaction instead: fine for a new or small database; docs/deploy.md says
    to use the alembic command on a big live one."""
    context = op.get_context()
    return op.get_bind().dialect.name == "postgresql" and not getattr(
        context, "_in_external_transaction", True
    )


def upgrade() -> None:
    if _can_build_concurrently():
        with op.get_context().autocommit_block():
            for name, table, columns in INDEXES:
                op.create_index(name, table, columns, postgresql_concurrently=True, if_not_exists=True)
        return
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, if_not_exists=True)


def downgrade() -> None:
    if _can_build_concurrently():
        with op.get_context().autocommit_block():
            for name, table, _ in INDEXES:
                op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        return
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table, if_exists=True)
