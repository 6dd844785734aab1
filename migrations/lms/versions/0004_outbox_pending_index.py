"""Outbox: a partial index on pending rows' ids, the publisher's claim order.

Without it the claim walks the primary key past every published row (the table
only grows), which made each claim slower as the outbox aged.

Revision ID: 0004_outbox_pending_index
Revises: 0003_processed_events
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_outbox_pending_index"
down_revision = "0003_processed_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_pending_id", "outbox", ["id"], postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_index("ix_outbox_pending_id", table_name="outbox")
