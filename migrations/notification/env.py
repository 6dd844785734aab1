"""Alembic environment of the notification database (the shared body: ``smartcourse.db.alembic_env``)."""

from smartcourse.db import alembic_env
from smartcourse_notification.tables import metadata

# Arbitrary but fixed: serialises concurrent deploy-time runs against one database.
MIGRATION_LOCK_ID = 7_345_003

alembic_env.run(metadata, MIGRATION_LOCK_ID)
