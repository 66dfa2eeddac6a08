"""outbox: thread aliases, so a handoff's DM thread continues the public conversation

Revision ID: 0110
Revises: 0100
Create Date: 2026-11-23 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import socialdesk.db.base

revision: str = "0110"
down_revision: str | Sequence[str] | None = "0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "thread_alias",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("thread_key", sa.String(length=256), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("after_generation", sa.Integer(), nullable=False),
        sa.Column("created_at", socialdesk.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["social_account.id"],
            name=op.f("fk_thread_alias_account_id_social_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_thread_alias_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_thread_alias")),
        sa.UniqueConstraint("account_id", "thread_key", name=op.f("uq_thread_alias_account_id_thread_key")),
    )
    op.create_index(
        op.f("ix_thread_alias_conversation_id"), "thread_alias", ["conversation_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_thread_alias_conversation_id"), table_name="thread_alias")
    op.drop_table("thread_alias")
