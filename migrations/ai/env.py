"""Alembic environment of the ai database (the shared body: ``smartcourse.db.alembic_env``)."""

from smartcourse.db import alembic_env
from smartcourse_ai.tables import metadata

# Arbitrary but fixed: serialises concurrent deploy-time runs against one database.
MIGRATION_LOCK_ID = 7_345_004

alembic_env.run(metadata, MIGRATION_LOCK_ID)
