"""Run the Alembic migrations of the service databases (local cloud on start, the migrate function on deploy).

One Alembic environment per service database: ``migrations/<service>/env.py``
migrates ``smartcourse_<service>``. All service databases live on one
PostgreSQL cluster; a missing one is created first (from a connection to the
LMS database, which the cluster is created with).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy import URL, text

MIGRATIONS_ENV = "SMARTCOURSE_MIGRATIONS_DIR"
PRIMARY_SERVICE = "lms"  # migrated first; its database exists from the start
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def database_for(service: str) -> str:
    """``smartcourse_{service}``: one database per service (the stacks' DB_NAME)."""
    return f"smartcourse_{service}"


def migrations_root() -> Path:
    """The folder holding ``lms/`` (one Alembic environment per service database).

    In a Lambda asset it sits at the code root next to ``lms/`` and
    ``platform/``; in the repository it is ``<repo>/migrations``.
    """
    override = os.environ.get(MIGRATIONS_ENV)
    if override:
        return Path(override)
    here = Path(__file__).resolve()
    candidates = [here.parents[p] / "migrations" for p in range(2, min(len(here.parents), 7))]
    for candidate in candidates:
        if (candidate / PRIMARY_SERVICE / "env.py").exists():
            return candidate
    raise FileNotFoundError("no migrations folder found; set " + MIGRATIONS_ENV)


def migrated_services(root: Path | None = None) -> list[str]:
    """Services with an Alembic environment (``<root>/<service>/env.py``): the LMS first, then by name."""
    base = root or migrations_root()
    found = sorted(p.parent.name for p in base.glob("*/env.py"))
    return sorted(found, key=lambda s: (s != PRIMARY_SERVICE, s))


def ensure_database(database_url: str | URL, database: str) -> bool:
    """Create ``database`` on the server of ``database_url`` unless it exists; True when it was created.

    ``database_url`` must name a database that exists (the LMS one): CREATE
    DATABASE runs from there, outside a transaction (PostgreSQL refuses it in one).
    """
    from sqlalchemy.exc import ProgrammingError

    from smartcourse.db.engine import make_engine, normalise_url

    if not _DATABASE_NAME.match(database):
        raise ValueError(f"not a database name this project creates: {database!r}")
    engine = make_engine(normalise_url(database_url)).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                        {"name": database}).scalar() is not None
            if exists:
                return False
            try:
                # The name is checked above; identifiers cannot be bound parameters.
                connection.execute(text(f'CREATE DATABASE "{database}"'))
            except ProgrammingError as error:
                # A concurrent run created it between the check and the CREATE.
                if "already exists" not in str(error):
                    raise
                return False
            return True
    finally:
        engine.dispose()


def upgrade(database_url: str | URL | None = None, *, service: str = PRIMARY_SERVICE, root: Path | None = None,
            revision: str = "head", database: str | None = None) -> None:
    """``alembic upgrade head`` for ``service``'s database.

    ``database_url`` defaults to the configured one (``DATABASE_URL``, or the
    secret in AWS); ``database`` replaces the database name it carries.
    """
    from alembic import command
    from alembic.config import Config

    from smartcourse.db.engine import database_url as configured_url
    from smartcourse.db.engine import make_engine, normalise_url

    location = (root or migrations_root()) / service
    config = Config()
    config.set_main_option("script_location", str(location))
    url = normalise_url(database_url) if database_url is not None else configured_url()
    if database is not None:
        url = url.set(database=database)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def upgrade_all(database_url: str | URL | None = None, *, root: Path | None = None) -> list[str]:
    """Migrate every service database that has migrations, creating missing databases; returns the services.

    ``database_url`` names the LMS database (default: the configured URL).
    """
    from smartcourse.db.engine import database_url as configured_url
    from smartcourse.db.engine import normalise_url

    base = root or migrations_root()
    url = normalise_url(database_url) if database_url is not None else configured_url()
    services = migrated_services(base)
    for service in services:
        database = database_for(service)
        if service != PRIMARY_SERVICE:
            ensure_database(url, database)
        upgrade(url, service=service, root=base, database=database if service != PRIMARY_SERVICE else None)
    return services
