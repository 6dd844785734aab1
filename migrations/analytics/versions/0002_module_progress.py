"""Analytics database: the per-learner per-module roll-up (module funnel, time on a module).

Revision ID: 0002_module_progress
Revises: 0001_initial
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0002_module_progress"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

STATEMENTS = (
    """
CREATE TABLE module_progress (
    enrollment_id UUID NOT NULL,
    module_id UUID NOT NULL,
    user_id UUID NOT NULL,
    course_id UUID NOT NULL,
    assets_started INTEGER NOT NULL,
    assets_completed INTEGER NOT NULL,
    first_progress_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_progress_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_module_progress PRIMARY KEY (enrollment_id, module_id)
)
    """,
    """
CREATE INDEX ix_module_progress_course_id_module_id ON module_progress (course_id, module_id)
    """,
    # Existing asset rows roll up once; from now on the consumer keeps the table current.
    """
INSERT INTO module_progress (enrollment_id, module_id, user_id, course_id, assets_started, assets_completed,
                             first_progress_at, last_progress_at)
SELECT enrollment_id, module_id, min(user_id::text)::uuid, min(course_id::text)::uuid, count(*),
       count(*) FILTER (WHERE progress_percent >= 100), min(first_progress_at), max(last_progress_at)
FROM asset_progress GROUP BY enrollment_id, module_id
    """,
)


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS module_progress")
