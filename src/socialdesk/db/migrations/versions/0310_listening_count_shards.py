"""listening: counter rows split into shards (atomic upserts without one hot row per minute)

``listening_count`` gets a ``shard`` column in its primary key, (series, bucket, shard): a message
adds to shard ``message.id % 8`` with ``INSERT ... ON CONFLICT DO UPDATE SET count = count + 1``,
so concurrent workers on one busy brand rarely wait on the same row; readers sum the shards.
Existing rows become shard 0, so every total stays what it was.

On PostgreSQL the column is added without a table rewrite (a constant default), the new unique
index is built CONCURRENTLY where Alembic owns the transaction (as in 0600), and the primary key
is swapped onto it in one short ALTER. SQLite rebuilds the table (batch mode), copying every row.
Deploy the migration before the code: the new code's upsert needs the new key. Old workers keep
working on the migrated table (their rows are shard 0) until a new worker has written another
shard of the same minute, where their primary-key read finds two rows and fails (the message is
retried): restart all workers onto the new code promptly after migrating.

Revision ID: 0310
Revises: 0300
Create Date: 2026-11-23 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0310"
down_revision: str | Sequence[str] | None = "0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "listening_count"
PK = "pk_listening_count"
NEW_INDEX = "ix_listening_count_shard_key"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _can_build_concurrently() -> bool:
    context = op.get_context()
    return _postgresql() and not getattr(context, "_in_external_transaction", True)


def upgrade() -> None:
    if not _postgresql():
        with op.batch_alter_table(TABLE, recreate="always") as batch:
            batch.add_column(sa.Column("shard", sa.SmallInteger(), nullable=False, server_default="0"))
            batch.drop_constraint(PK, type_="primary")
            batch.create_primary_key(PK, ["series", "bucket", "shard"])
        return
    op.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS shard SMALLINT NOT NULL DEFAULT 0")
    if _can_build_concurrently():
        with op.get_context().autocommit_block():
            op.create_index(
                NEW_INDEX,
                TABLE,
                ["series", "bucket", "shard"],
                unique=True,
                postgresql_concurrently=True,
                if_not_exists=True,
            )
    else:
        op.create_index(NEW_INDEX, TABLE, ["series", "bucket", "shard"], unique=True, if_not_exists=True)
    # USING INDEX renames the index to the constraint's name: the key is the models' again.
    op.execute(
        f"ALTER TABLE {TABLE} DROP CONSTRAINT {PK}, ADD CONSTRAINT {PK} PRIMARY KEY USING INDEX {NEW_INDEX}"
    )


def downgrade() -> None:
    # Fold the shards into shard 0 first, so no count is lost with the column.
    op.execute(
        f"INSERT INTO {TABLE} (series, bucket, shard, count) "
        f"SELECT series, bucket, 0, SUM(count) FROM {TABLE} WHERE shard <> 0 GROUP BY series, bucket "
        f"ON CONFLICT (series, bucket, shard) DO UPDATE SET count = {TABLE}.count + excluded.count"
    )
    op.execute(f"DELETE FROM {TABLE} WHERE shard <> 0")
    if not _postgresql():
        with op.batch_alter_table(TABLE, recreate="always") as batch:
            batch.drop_constraint(PK, type_="primary")
            batch.create_primary_key(PK, ["series", "bucket"])
            batch.drop_column("shard")
        return
    op.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {PK}, ADD CONSTRAINT {PK} PRIMARY KEY (series, bucket)")
    op.drop_column(TABLE, "shard")
