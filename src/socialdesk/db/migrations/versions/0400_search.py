"""web desk sessions and saved filters; full-text search index

Revision ID: 0400
Revises: 0001
Create Date: 2026-11-23 15:30:00

The search index is FTS5 tables with triggers on SQLite and GIN tsvector expression indexes
on PostgreSQL (socialdesk.search.index); they are not ORM tables, so schema comparisons skip
them with socialdesk.search.index.include_name.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import socialdesk.db.base

revision: str = "0400"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", socialdesk.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", socialdesk.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_web_session_agent_id_agent"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
    )
    op.create_index(op.f("ix_web_session_agent_id"), "web_session", ["agent_id"], unique=False)
    op.create_table(
        "saved_filter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("query", sa.String(length=1000), nullable=False),
        sa.Column("created_at", socialdesk.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_saved_filter_agent_id_agent"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_filter")),
    )
    op.create_index(op.f("ix_saved_filter_agent_id"), "saved_filter", ["agent_id"], unique=False)

    from socialdesk.search.index import create_search_index

    create_search_index(op.get_bind())


def downgrade() -> None:
    from socialdesk.search.index import drop_search_index

    drop_search_index(op.get_bind())
    op.drop_index(op.f("ix_saved_filter_agent_id"), table_name="saved_filter")
    op.drop_table("saved_filter")
    op.drop_index(op.f("ix_web_session_agent_id"), table_name="web_session")
    op.drop_table("web_session")
