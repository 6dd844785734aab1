"""Each service's database and login role: created and maintained with an admin connection, idempotently.

A service's role (``smartcourse_<service>``, :mod:`smartcourse.db.names`) can log in, connect to its own
database and read and change the rows of its tables; it cannot connect to another service's database,
create roles or databases, create tables (schema changes are the migrations', run as the admin), replicate,
or inherit anything. What it gets:

- on the cluster: ``LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION`` and its password;
- on its database: ``CONNECT`` and ``TEMPORARY``, which ``PUBLIC`` loses, so no other role (another service's)
  can connect unless it is the owner (the admin) or a superuser;
- inside its database: ``USAGE`` on schema ``public``; ``SELECT, INSERT, UPDATE, DELETE`` on every table;
  ``USAGE, SELECT, UPDATE`` on every sequence; the same through ``ALTER DEFAULT PRIVILEGES`` for the
  tables and sequences the admin creates later (the next migrations). ``PUBLIC`` loses ``CREATE`` on
  ``public`` (already so on PostgreSQL >= 15).

The SQL text is built by pure helpers below (``psycopg.sql`` objects): identifiers are checked against a
strict name pattern, then quoted; passwords are literals quoted by psycopg, never formatted into a string
(``CREATE ROLE ... PASSWORD`` takes no bind parameters). :func:`ensure_role` goes one step further: the
password is hashed on the client (libpq's ``PQencryptPasswordConn``, the server's ``password_encryption``
algorithm, as ``psql``'s ``\\password`` does), so the clear password never reaches the server or its logs.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from psycopg import sql

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy import URL

log = logging.getLogger(__name__)

# A role or database name this module creates or grants on: a plain lower-case PostgreSQL identifier.
NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Every attribute a service role gets, on creation and again on every run (an ALTER puts drift right).
ROLE_ATTRIBUTES = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION")
TABLE_PRIVILEGES = sql.SQL("SELECT, INSERT, UPDATE, DELETE")
SEQUENCE_PRIVILEGES = sql.SQL("USAGE, SELECT, UPDATE")
SCHEMA = "public"
# Where cluster-wide statements (CREATE ROLE, CREATE DATABASE) run when the admin URL names no database:
# every PostgreSQL server (and Aurora PostgreSQL) has it.
MAINTENANCE_DATABASE = "postgres"
# Databases every cluster has, open to PUBLIC by default: closed to the service roles.
SHARED_DATABASES = ("postgres", "template1")
MIGRATIONS_TABLE = "alembic_version"


# ---------------------------------------------------------------------------------------------- pure helpers


def identifier(name: str, kind: str = "role") -> sql.Identifier:
    """``name`` as a quoted identifier, when it is a ``kind`` name this project creates (else ValueError)."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"not a {kind} name this project creates: {name!r}")
    return sql.Identifier(name)


def password_literal(password: str) -> sql.Literal:
    """``password`` as a quoted SQL string literal (quotes and backslashes escaped by psycopg)."""
    if not isinstance(password, str) or not password:
        raise ValueError("a role password must be a non-empty string")
    if "\x00" in password:
        raise ValueError("a role password cannot contain a NUL character")
    return sql.Literal(password)


def _role_sql(verb: str, role: str, password: str | None) -> sql.Composed:
    parts = [sql.SQL(verb), identifier(role), sql.SQL("WITH"), ROLE_ATTRIBUTES]
    if password is not None:
        parts += [sql.SQL("PASSWORD"), password_literal(password)]
    return sql.SQL(" ").join(parts)


def create_role_sql(role: str, password: str | None) -> sql.Composed:
    """``CREATE ROLE`` with the service role's attributes and ``password`` (clear text or a verifier; None:
    no password, so no password login)."""
    return _role_sql("CREATE ROLE", role, password)


def alter_role_sql(role: str, password: str | None) -> sql.Composed:
    """``ALTER ROLE``: the same attributes again (drift is put right) and, unless None, the current password."""
    return _role_sql("ALTER ROLE", role, password)


def create_database_sql(database: str) -> sql.Composed:
    return sql.SQL("CREATE DATABASE {}").format(identifier(database, "database"))


def database_grants_sql(database: str, role: str) -> list[sql.Composed]:
    """Run anywhere on the cluster: only ``role`` (besides the owner and superusers) may connect to ``database``."""
    db, who = identifier(database, "database"), identifier(role)
    return [
        sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(db),
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(db, who),
    ]


def schema_grants_sql(role: str) -> list[sql.Composed]:
    """Run inside the service's database as the admin that migrates it: row access now and for later objects.

    ``ALTER DEFAULT PRIVILEGES`` without ``FOR ROLE`` covers what the current user (the admin) creates.
    """
    who, schema = identifier(role), sql.Identifier(SCHEMA)
    return [
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(schema),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, who),
        sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}").format(TABLE_PRIVILEGES, schema, who),
        sql.SQL("GRANT {} ON ALL SEQUENCES IN SCHEMA {} TO {}").format(SEQUENCE_PRIVILEGES, schema, who),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT {} ON TABLES TO {}").format(
            schema, TABLE_PRIVILEGES, who),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT {} ON SEQUENCES TO {}").format(
            schema, SEQUENCE_PRIVILEGES, who),
    ]


# ---------------------------------------------------------------------------------------------- connections


def connect_kwargs(url: str | URL, database: str | None = None) -> dict[str, Any]:
    """psycopg ``connect`` keywords from a SQLAlchemy-style URL (no URL re-rendering of the password).

    ``database`` replaces the URL's; a URL without one goes to :data:`MAINTENANCE_DATABASE`.
    """
    from sqlalchemy import make_url

    parsed = make_url(url) if isinstance(url, str) else url
    kwargs: dict[str, Any] = {key: value for key, value in {
        "host": parsed.host, "port": parsed.port, "user": parsed.username, "password": parsed.password,
    }.items() if value is not None}
    kwargs.update({k: v for k, v in parsed.query.items() if isinstance(v, str)})
    kwargs["dbname"] = database or parsed.database or MAINTENANCE_DATABASE
    kwargs.setdefault("connect_timeout", 10)
    return kwargs


def _connect(url: str | URL, database: str | None = None) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(autocommit=True, **connect_kwargs(url, database))


def _encrypted(connection: psycopg.Connection[Any], role: str, password: str) -> str:
    """The password's verifier for ``role`` in the server's ``password_encryption`` (SCRAM or MD5)."""
    password_literal(password)  # the same checks as the clear text would get
    verifier = connection.pgconn.encrypt_password(password.encode(), role.encode())
    return verifier.decode()


# ---------------------------------------------------------------------------------------------- operations


def ensure_database(admin_url: str | URL, database: str) -> bool:
    """Create ``database`` (owned by the admin) unless it exists; True when it was created."""
    statement = create_database_sql(database)
    with _connect(admin_url) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if exists:
            return False
        import psycopg

        try:
            connection.execute(statement)  # outside a transaction (autocommit): PostgreSQL requires it
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            return False  # a concurrent run created it between the check and the CREATE
        log.info("created database %s", database)
        return True


def ensure_role(admin_url: str | URL, role: str, password: str | None) -> bool:
    """Create the login ``role`` with ``password``, or set its attributes and password; True when created.

    Running it again with a new password rotates it: the old one stops working at once. ``password`` None
    leaves an existing role's password as it is (and creates a role without one).
    """
    import psycopg

    identifier(role)
    with _connect(admin_url) as connection:
        verifier = _encrypted(connection, role, password) if password is not None else None
        exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            try:
                connection.execute(create_role_sql(role, verifier))
                log.info("created role %s", role)
                return True
            except psycopg.errors.DuplicateObject:
                pass  # a concurrent run created it: set the password below
        connection.execute(alter_role_sql(role, verifier))
        return False


def grant_database(admin_url: str | URL, database: str, role: str) -> None:
    """``role`` may connect to ``database``; ``PUBLIC`` (so every other role) may not."""
    with _connect(admin_url) as connection, connection.transaction():
        for statement in database_grants_sql(database, role):
            connection.execute(statement)


def grant_schema(admin_url: str | URL, database: str, role: str) -> None:
    """Inside ``database``: ``role``'s row access to every table and sequence, now and for later migrations.

    Except the migrations' own bookkeeping: a service role that could rewrite ``alembic_version`` could make
    the next deploy skip or repeat migrations.
    """
    with _connect(admin_url, database) as connection, connection.transaction():
        for statement in schema_grants_sql(role):
            connection.execute(statement)
        if connection.execute(sql.SQL("SELECT to_regclass({})").format(
                sql.Literal(f"{SCHEMA}.{MIGRATIONS_TABLE}"))).fetchone() != (None,):
            connection.execute(sql.SQL("REVOKE ALL ON TABLE {}.{} FROM {}").format(
                sql.Identifier(SCHEMA), sql.Identifier(MIGRATIONS_TABLE), identifier(role)))


def close_shared_databases(admin_url: str | URL) -> list[str]:
    """Take ``CONNECT``/``TEMPORARY`` on the cluster's own databases (``postgres``, ``template1``) from ``PUBLIC``.

    Otherwise every service role could still connect there (and make temporary tables). The admin keeps its
    access (granted explicitly first). Where the admin does not own one (a managed service's), it is left as
    it is and reported; returns the databases closed.
    """
    closed: list[str] = []
    for database in SHARED_DATABASES:
        db = identifier(database, "database")
        with _connect(admin_url) as connection:
            try:
                with connection.transaction():
                    connection.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO CURRENT_USER").format(db))
                    connection.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(db))
                closed.append(database)
            except psycopg.errors.InsufficientPrivilege:
                log.warning("cannot close database %s to other roles: the admin does not own it", database)
    return closed


def provision_role(admin_url: str | URL, database: str, role: str, password: str | None) -> None:
    """The whole of it for one service: database, role and password, every grant. Idempotent."""
    ensure_database(admin_url, database)
    ensure_role(admin_url, role, password)
    grant_database(admin_url, database, role)
    grant_schema(admin_url, database, role)
