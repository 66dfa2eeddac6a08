"""outbox, reply templates and macros (issue 4 part B)

Revision ID: 0100
Revises: 0001
Create Date: 2026-11-23 15:10:34.859609
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB with a bare Text())

import socialdesk.db.base
from sqlalchemy.dialects import postgresql

revision: str = '0100'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('macro',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('actions', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', socialdesk.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_macro')),
    sa.UniqueConstraint('name', name=op.f('uq_macro_name'))
    )
    op.create_table('reply_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('shortcode', sa.String(length=40), nullable=True),
    sa.Column('brand_id', sa.Integer(), nullable=True),
    sa.Column('default_locale', sa.String(length=16), nullable=False),
    sa.Column('bodies', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('approval', sa.String(length=16), nullable=False),
    sa.Column('approved_by', sa.String(length=200), nullable=False),
    sa.Column('approved_at', socialdesk.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('whatsapp_template_name', sa.String(length=512), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', socialdesk.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', socialdesk.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brand.id'], name=op.f('fk_reply_template_brand_id_brand')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reply_template')),
    sa.UniqueConstraint('name', name=op.f('uq_reply_template_name')),
    sa.UniqueConstraint('shortcode', name=op.f('uq_reply_template_shortcode'))
    )
    with op.batch_alter_table('reply_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reply_template_brand_id'), ['brand_id'], unique=False)

    op.create_table('outbox_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('recipient_id', sa.String(length=128), nullable=False),
    sa.Column('reply_to_external_id', sa.String(length=128), nullable=True),
    sa.Column('after_item_id', sa.Integer(), nullable=True),
    sa.Column('template_id', sa.Integer(), nullable=True),
    sa.Column('platform_template', sa.String(length=512), nullable=False),
    sa.Column('platform_template_language', sa.String(length=16), nullable=False),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', socialdesk.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', socialdesk.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('sent_at', socialdesk.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', socialdesk.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['social_account.id'], name=op.f('fk_outbox_item_account_id_social_account')),
    sa.ForeignKeyConstraint(['after_item_id'], ['outbox_item.id'], name=op.f('fk_outbox_item_after_item_id_outbox_item')),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], name=op.f('fk_outbox_item_conversation_id_conversation')),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_outbox_item_message_id_message')),
    sa.ForeignKeyConstraint(['template_id'], ['reply_template.id'], name=op.f('fk_outbox_item_template_id_reply_template')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_item')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_item_idempotency_key')),
    sa.UniqueConstraint('message_id', name=op.f('uq_outbox_item_message_id'))
    )
    with op.batch_alter_table('outbox_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_item_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index('ix_outbox_item_state_due', ['state', 'next_attempt_at'], unique=False)
    # Inbox indexes for selective filters (declared in socialdesk/outbox/models.py).
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_brand_priority_recent', ['brand_id', 'priority', 'last_message_at'], unique=False)
        batch_op.create_index('ix_conversation_language_recent', ['language', 'last_message_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_language_recent')
        batch_op.drop_index('ix_conversation_brand_priority_recent')
    with op.batch_alter_table('outbox_item', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_item_state_due')
        batch_op.drop_index(batch_op.f('ix_outbox_item_conversation_id'))
    op.drop_table('outbox_item')
    with op.batch_alter_table('reply_template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reply_template_brand_id'))
    op.drop_table('reply_template')
    op.drop_table('macro')
