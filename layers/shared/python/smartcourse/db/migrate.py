"""Run the Alembic migrations of a service database (local cloud on start, the migrate function on deploy)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import URL

MIGRATIONS_ENV = "SMARTCOURSE_MIGRATIONS_DIR"


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
        if (candidate / "lms" / "env.py").exists():
            return candidate
    raise FileNotFoundError("no migrations folder found; set " + MIGRATIONS_ENV)


def upgrade(database_url: str | URL | None = None, *, service: str = "lms", root: Path | None = None,
            revision: str = "head") -> None:
    """``alembic upgrade head`` for ``service``'s database (``DATABASE_URL``/secret from settings when None)."""
    from alembic import command
    from alembic.config import Config

    from smartcourse.db.engine import database_url as configured_url
    from smartcourse.db.engine import make_engine, normalise_url

    location = (root or migrations_root()) / service
    config = Config()
    config.set_main_option("script_location", str(location))
    url = normalise_url(database_url) if database_url is not None else configured_url()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
