"""web desk: covering indexes for the inbox list and the label counts (issue 5, inbox p95)

See socialdesk.web.ui.models.INBOX_COVER_INDEXES. On PostgreSQL the indexes are built with
CREATE INDEX CONCURRENTLY when Alembic owns the transaction, as in migration 0600.

Revision ID: 0410
Revises: 0400
Create Date: 2026-11-23 17:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0410"
down_revision: str | Sequence[str] | None = "0400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILTERED = [
    "status",
    "first_response_at",
    "platform",
    "language",
    "sentiment",
    "priority",
    "brand_id",
    "team_id",
    "assignee_id",
    "issue_type",
]
COVER: list[tuple[str, list[str]]] = [
    ("ix_conversation_first_due_cover", ["first_response_due_at", "id", *FILTERED]),
    ("ix_conversation_next_due_cover", ["next_response_due_at", "id", *FILTERED]),
    ("ix_conversation_recent_cover", ["last_message_at", "id", *FILTERED]),
]


def _concurrently() -> bool:
    context = op.get_context()
    return op.get_bind().dialect.name == "postgresql" and not getattr(
        context, "_in_external_transaction", True
    )


def _create() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for name, columns in COVER:
        op.create_index(
            name, "conversation", columns, if_not_exists=True, postgresql_concurrently=_concurrently()
        )
    op.create_index(
        "ix_conversation_labelled",
        "conversation",
        ["status", "labels"],
        if_not_exists=True,
        postgresql_concurrently=_concurrently(),
        postgresql_where=sa.text("labels != '[]'::jsonb") if pg else None,
        sqlite_where=sa.text("labels != '[]'"),
    )


def upgrade() -> None:
    if _concurrently():
        with op.get_context().autocommit_block():
            _create()
        return
    _create()


def downgrade() -> None:
    names = [name for name, _ in COVER] + ["ix_conversation_labelled"]
    if _concurrently():
        with op.get_context().autocommit_block():
            for name in names:
                op.drop_index(name, table_name="conversation", postgresql_concurrently=True, if_exists=True)
        return
    for name in names:
        op.drop_index(name, table_name="conversation", if_exists=True)
