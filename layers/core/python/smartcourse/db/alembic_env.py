"""The one Alembic environment body every service database's ``migrations/<service>/env.py`` runs.

Online migrations only, one run at a time per database (a PostgreSQL advisory lock: deploy-time runs may
overlap), one transaction per migration.
"""

from __future__ import annotations

from sqlalchemy import Connection, MetaData, text


def run(metadata: MetaData | None, lock_id: int) -> None:
    """Migrate the database Alembic was pointed at (a passed connection, ``sqlalchemy.url``, or the settings)."""
    from alembic import context

    if context.is_offline_mode():
        raise SystemExit("offline (SQL script) mode is not supported; run against a database")

    def migrate(connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
        try:
            context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                              transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
            connection.commit()

    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        migrate(connection)
        return
    from smartcourse.db.engine import database_url, make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or database_url())
    try:
        with engine.connect() as conn:
            migrate(conn)
    finally:
        engine.dispose()
