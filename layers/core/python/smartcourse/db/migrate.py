"""Service databases and roles, and their Alembic migrations (the local cloud on start, the migrate function on deploy).

One Alembic environment per service database: ``migrations/<service>/env.py``
migrates ``smartcourse_<service>`` (names: :mod:`smartcourse.db.names`). All
service databases live on one PostgreSQL cluster. :func:`provision` does the
whole of it with an admin connection, for every service: database, login role
and grants (:mod:`smartcourse.db.roles`), migrations (as the admin, so the
admin owns every table), grants again. :func:`provision_from_environment` is
the deploy-time entry point: the master secret (or ``DATABASE_URL``) plus one
secret per service (``DB_SERVICE_SECRET_ARNS``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import URL

from smartcourse.db.names import DATABASE_SERVICES, database_name, role_name

log = logging.getLogger(__name__)

MIGRATIONS_ENV = "SMARTCOURSE_MIGRATIONS_DIR"
PRIMARY_SERVICE = "lms"  # migrated first; its database exists from the start
# Alternating-users rotation (Secrets Manager's multi-user rotation) switches a secret between the role and
# this clone of it, a member of the role created by the rotation function.
ROTATION_CLONE_SUFFIX = "_clone"


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

    The statement runs from ``database_url``'s database (``postgres`` when it names none), outside a
    transaction (PostgreSQL refuses CREATE DATABASE in one).
    """
    from smartcourse.db import roles

    return roles.ensure_database(database_url, database)


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
        database = database_name(service)
        if service != PRIMARY_SERVICE:
            ensure_database(url, database)
        upgrade(url, service=service, root=base, database=database if service != PRIMARY_SERVICE else None)
    return services


def has_migrations(service: str, root: Path | None = None) -> bool:
    return ((root or migrations_root()) / service / "env.py").exists()


def provision(admin_url: str | URL, passwords: Mapping[str, str | None], *, services: Iterable[str] = (),
              root: Path | None = None) -> dict[str, list[str]]:
    """Every service's database, role, grants and migrations, with an admin connection; idempotent.

    The services are those of ``passwords``, of ``services`` and those with migrations (``root``). For each:
    the database is created when missing; when ``passwords`` has one for it, its role is created (or its
    attributes and password set: a new password rotates it) and granted its database; its migrations run
    as the admin (only when ``<root>/<service>/env.py`` exists); then the grants are applied again, so
    tables of any owner are covered (later ones by the default privileges). ``admin_url`` names the server
    (a database in it is where cluster-wide statements run; none: ``postgres``), and must be a user that
    may create roles and databases. Returns ``{"databases": [...], "roles": [...], "migrated": [...]}``.
    """
    from smartcourse.db import roles
    from smartcourse.db.engine import normalise_url

    base = root or migrations_root()
    url = normalise_url(admin_url)
    wanted = dict.fromkeys([*migrated_services(base), *passwords, *services])
    done: dict[str, list[str]] = {"databases": [], "roles": [], "migrated": []}
    if passwords:
        roles.close_shared_databases(url)
    for service in sorted(wanted, key=lambda s: (s != PRIMARY_SERVICE, s)):
        database, role = database_name(service), role_name(service)
        roles.ensure_database(url, database)
        done["databases"].append(database)
        provisioned = service in passwords
        if provisioned:
            roles.ensure_role(url, role, passwords[service])
            roles.grant_database(url, database, role)
            roles.grant_schema(url, database, role)
            done["roles"].append(role)
        else:
            log.warning("no credentials for the %s service: its database has no role of its own", service)
        if has_migrations(service, base):
            log.info("migrating %s", database)
            upgrade(url, service=service, root=base, database=database)
            done["migrated"].append(service)
            if provisioned:
                roles.grant_schema(url, database, role)
    return done


# ---------------------------------------------------------------------------------------------- deploy time


def admin_url_from_environment() -> URL:
    """The admin connection: ``DATABASE_URL`` when set (local, tests), else the cluster's master secret
    (``DB_SECRET_ARN``: JSON with ``username``/``password``) at ``DB_HOST``:``DB_PORT``, database ``postgres``."""
    from smartcourse.db.engine import normalise_url
    from smartcourse.db.roles import MAINTENANCE_DATABASE
    from smartcourse.settings import get_settings

    settings = get_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    if not (settings.db_secret_arn and settings.db_host):
        raise RuntimeError("no admin database configured: set DATABASE_URL, or DB_SECRET_ARN and DB_HOST")
    secret = _secret(settings.db_secret_arn)
    return URL.create("postgresql+psycopg", username=str(secret["username"]), password=str(secret["password"]),
                      host=settings.db_host, port=settings.db_port, database=MAINTENANCE_DATABASE)


def service_secret_arns(raw: str | None) -> dict[str, str]:
    """``DB_SERVICE_SECRET_ARNS``: a JSON object of service name -> secret ARN (empty when unset)."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"DB_SERVICE_SECRET_ARNS is not JSON: {error}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                              for k, v in value.items()):
        raise ValueError("DB_SERVICE_SECRET_ARNS must be a JSON object of service name -> secret ARN")
    strangers = sorted(set(value) - set(DATABASE_SERVICES))
    if strangers:
        # Never a role outside the services' (e.g. "admin" would name the master user and strip its rights).
        raise ValueError(f"DB_SERVICE_SECRET_ARNS names no service: {', '.join(strangers)}")
    return dict(value)


def role_password(service: str, secret: Mapping[str, Any]) -> str | None:
    """The password to give ``service``'s role, from its secret (RDS's JSON shape: ``username``, ``password``).

    The secret names the role itself (its password is set), or, once an alternating-users rotation has run,
    the rotation's clone of it (None: the rotation function owns the clone's password and the role's is left
    as it is). Any other username is a wiring mistake.
    """
    role = role_name(service)
    username, password = secret.get("username"), secret.get("password")
    if not isinstance(password, str) or not password:
        raise ValueError(f"the {service} database secret has no password")
    if username == role:
        return password
    if username == role + ROTATION_CLONE_SUFFIX:
        return None
    raise ValueError(f"the {service} database secret names user {username!r}, expected {role!r}")


def service_passwords_from_environment() -> dict[str, str | None]:
    """Each service's role password from its secret in ``DB_SERVICE_SECRET_ARNS`` (read fresh, never cached:
    a deploy must not put back a password a rotation has just replaced)."""
    from smartcourse.settings import get_settings

    arns = service_secret_arns(get_settings().db_service_secret_arns)
    return {service: role_password(service, _secret(arn)) for service, arn in arns.items()}


def _secret(arn: str) -> dict[str, Any]:
    from smartcourse.secrets import get_secret_json

    return get_secret_json(arn, ttl_seconds=0)


def provision_from_environment(root: Path | None = None) -> dict[str, list[str]]:
    """The migrate function's work: :func:`provision` with the admin URL and service secrets of the environment."""
    return provision(admin_url_from_environment(), service_passwords_from_environment(), root=root)
