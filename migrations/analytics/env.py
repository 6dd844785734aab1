"""Alembic environment of the analytics database (the shared body: ``smartcourse.db.alembic_env``)."""

from smartcourse.db import alembic_env
from smartcourse_analytics.tables import metadata

# Arbitrary but fixed: serialises concurrent deploy-time runs against one database.
MIGRATION_LOCK_ID = 7_345_005

alembic_env.run(metadata, MIGRATION_LOCK_ID)
