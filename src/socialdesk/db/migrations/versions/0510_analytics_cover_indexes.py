"""analytics: covering indexes so the weekly report reads narrow index entries, not wide rows

The report scans each rollup by its date and joins every row to its conversation's dimensions
(platform, agent, language, the customer's country). With these indexes those reads are
index-only: the rollup ranges carry their values, and the conversation and customer lookups
hit narrow indexes instead of the wide conversation and customer rows (see
socialdesk.analytics.models and docs/kpis.md, "How the figures are computed").

Revision ID: 0510
Revises: 0500
Create Date: 2026-11-23 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0510"
down_revision: str | Sequence[str] | None = "0500"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIMS = ["platform", "brand_id", "team_id", "assignee_id", "language", "customer_id"]
NEW: list[tuple[str, str, list[str]]] = [
    ("ix_analytics_conversation_dims", "conversation", ["id", *DIMS]),
    ("ix_analytics_conversation_first", "conversation", ["first_message_at", "id", *DIMS]),
    (
        "ix_analytics_conversation_backlog",
        "conversation",
        ["status", "first_message_at", "waiting_since", *DIMS],
    ),
    ("ix_analytics_customer_country", "customer", ["id", "country"]),
    ("ix_analytics_message_sent_cover", "message", ["sent_at", "direction", "conversation_id"]),
    (
        "ix_analytics_response_cover",
        "analytics_response",
        ["kind", "stopped_at", "conversation_id", "agent_id", "seconds", "business_seconds"],
    ),
    (
        "ix_analytics_resolution_cover",
        "analytics_resolution",
        [
            "resolved_at",
            "conversation_id",
            "agent_id",
            "cycle",
            "seconds",
            "business_seconds",
            "gross_seconds",
        ],
    ),
    (
        "ix_analytics_sentiment_cover",
        "analytics_sentiment",
        ["last_at", "conversation_id", "first_at", "first_sentiment", "last_sentiment"],
    ),
]
OLD: list[tuple[str, str, list[str]]] = [
    ("ix_analytics_message_sent", "message", ["sent_at"]),
    ("ix_analytics_response_kind_stopped", "analytics_response", ["kind", "stopped_at"]),
    ("ix_analytics_resolution_resolved", "analytics_resolution", ["resolved_at"]),
    ("ix_analytics_sentiment_last", "analytics_sentiment", ["last_at"]),
]


def _concurrently() -> bool:
    context = op.get_context()
    return op.get_bind().dialect.name == "postgresql" and not getattr(
        context, "_in_external_transaction", True
    )


def _swap(create: list, drop: list) -> None:
    concurrently = _concurrently()
    for name, table, columns in create:
        op.create_index(name, table, columns, if_not_exists=True, postgresql_concurrently=concurrently)
    for name, table, _ in drop:
        op.drop_index(name, table_name=table, if_exists=True, postgresql_concurrently=concurrently)


def upgrade() -> None:
    if _concurrently():
        with op.get_context().autocommit_block():
            _swap(NEW, OLD)
        return
    _swap(NEW, OLD)


def downgrade() -> None:
    if _concurrently():
        with op.get_context().autocommit_block():
            _swap(OLD, NEW)
        return
    _swap(OLD, NEW)
