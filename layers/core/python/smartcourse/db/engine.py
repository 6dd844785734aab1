"""One engine per process, sized for Lambda (one connection, no overflow)."""

from __future__ import annotations

import threading

from sqlalchemy import URL, Engine, create_engine, make_url

from smartcourse.settings import Settings, get_settings

_engine: Engine | None = None
_lock = threading.Lock()


def normalise_url(url: str | URL, default_database: str | None = None) -> URL:
    """Force the psycopg 3 driver and fill in the database name when the URL names only the server."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if not parsed.database and default_database:
        parsed = parsed.set(database=default_database)
    return parsed


def database_url(settings: Settings | None = None) -> URL:
    """``DATABASE_URL`` when set; in AWS, the RDS credentials secret plus ``DB_HOST``/``DB_PORT``/``DB_NAME``."""
    settings = settings or get_settings()
    if settings.database_url:
        return normalise_url(settings.database_url, settings.db_name)
    if settings.db_secret_arn and settings.db_host:
        from smartcourse.secrets import get_secret_json

        secret = get_secret_json(settings.db_secret_arn)
        return URL.create(
            "postgresql+psycopg",
            username=str(secret["username"]),
            password=str(secret["password"]),
            host=settings.db_host,
            port=settings.db_port,
            database=settings.db_name,
        )
    raise RuntimeError("no database configured: set DATABASE_URL, or DB_SECRET_ARN and DB_HOST")


def make_engine(url: str | URL) -> Engine:
    # A Lambda sandbox serves one request at a time: one pooled connection is
    # enough, and more would only multiply connections against RDS Proxy.
    return create_engine(
        normalise_url(url),
        pool_size=1,
        max_overflow=0,
        pool_pre_ping=True,
        pool_recycle=300,
        connect_args={"connect_timeout": 5},
        # A statement's error text must not carry its parameters into logs (hashes, emails, tokens).
        hide_parameters=True,
    )


def get_engine() -> Engine:
    """The process-wide engine, created on first use (not at import: keeps cold starts small)."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = make_engine(database_url())
    return _engine


def reset_engine() -> None:
    global _engine
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
