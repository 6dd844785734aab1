"""The analytics migrations build exactly what ``smartcourse_analytics.tables`` declares."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

pytestmark = pytest.mark.integration


def test_the_migrations_build_exactly_the_tables_module(analytics_db: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from smartcourse_analytics.tables import metadata

    with analytics_db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
