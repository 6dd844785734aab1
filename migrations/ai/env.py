"""Alembic environment of the AI database (the shared body: ``smartcourse.db.alembic_env``)."""

from smartcourse.db import alembic_env
from sqlalchemy import MetaData


def _metadata() -> MetaData | None:
    # The tables module needs pgvector (and numpy), which the migrate function's layer does not ship; the
    # revisions are literal DDL and only a developer's `alembic revision --autogenerate` reads the metadata.
    try:
        from smartcourse_ai.tables import metadata
    except ImportError:
        return None
    return metadata


# Arbitrary but fixed: serialises concurrent deploy-time runs against one database.
MIGRATION_LOCK_ID = 7_345_004

alembic_env.run(_metadata(), MIGRATION_LOCK_ID)
