"""analytics: how many events each conversation's rollup was built from

``rollup.refresh`` compares this with the conversation's event count to find the
conversations whose rollups miss an event (a new one, or one that committed late with a lower
id), so only those are replayed again (see docs/kpis.md, "How the figures are computed").
Existing rows start at 0: a conversation is replayed the next time one of its events is seen.

Revision ID: 0520
Revises: 0510
Create Date: 2026-11-23 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0520"
down_revision: str | Sequence[str] | None = "0510"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("analytics_conversation") as batch:
        batch.add_column(sa.Column("event_count", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("analytics_conversation") as batch:
        batch.drop_column("event_count")
