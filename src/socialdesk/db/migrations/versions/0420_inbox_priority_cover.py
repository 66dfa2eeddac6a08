"""web desk: a covering index for the inbox sorted by priority (issue 5, inbox p95)

See socialdesk.web.ui.models.INBOX_COVER_INDEXES. On PostgreSQL the index is built with
CREATE INDEX CONCURRENTLY when Alembic owns the transaction, as in migration 0600.

Revision ID: 0420
Revises: 0410
Create Date: 2026-11-23 18:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0420"
down_revision: str | Sequence[str] | None = "0410"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_conversation_priority_cover"
COLUMNS = [
    "priority",
    "last_message_at",
    "id",
    "status",
    "first_response_at",
    "platform",
    "language",
    "sentiment",
    "brand_id",
    "team_id",
    "assignee_id",
    "issue_type",
]


def _concurrently() -> bool:
    context = op.get_context()
    return op.get_bind().dialect.name == "postgresql" and not getattr(
        context, "_in_external_transaction", True
    )


def upgrade() -> None:
    if _concurrently():
        with op.get_context().autocommit_block():
            op.create_index(NAME, "conversation", COLUMNS, if_not_exists=True, postgresql_concurrently=True)
        return
    op.create_index(NAME, "conversation", COLUMNS, if_not_exists=True)


def downgrade() -> None:
    if _concurrently():
        with op.get_context().autocommit_block():
            op.drop_index(NAME, table_name="conversation", postgresql_concurrently=True, if_exists=True)
        return
    op.drop_index(NAME, table_name="conversation", if_exists=True)
