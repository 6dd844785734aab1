"""Role isolation with real connections: each service's login role reaches its own database and nothing else.

A PostgreSQL server of this module's own (roles are cluster-wide: the session server is shared with the
local cloud of the e2e tests), with the local cloud's pg_hba rules, so passwords are checked: the admin
(``postgres``) on trust, every other role by password (SCRAM). Provisioned as the local cloud and the
migrate function do it: ``smartcourse.db.migrate.provision``.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from localcloud.cloud import require_role_passwords
from localcloud.services import PostgresService, free_port
from smartcourse.db import roles
from smartcourse.db.migrate import provision
from smartcourse.db.names import DATABASE_SERVICES, database_name, role_name

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
MIGRATIONS = ROOT / "migrations"
# Quotes, backslashes, a dollar quote and SQL: the literal must carry it through as one password.
AWKWARD_PASSWORD = "it's a \\back'slash\\' $$ \"q\" ; DROP ROLE postgres; --"


@pytest.fixture(scope="module")
def server(server_dirs: Callable[[str], Path]) -> Iterator[PostgresService]:
    service = PostgresService(data_dir=server_dirs("db-roles") / "pgdata", port=free_port())
    service.start()
    try:
        assert require_role_passwords(service.url) is True
        assert require_role_passwords(service.url) is False  # once
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def passwords() -> dict[str, str]:
    """The current password of each service role (tests that rotate one write the new one here)."""
    found = {service: secrets.token_urlsafe(24) for service in DATABASE_SERVICES}
    found["lms"] = AWKWARD_PASSWORD
    return found


@pytest.fixture(scope="module")
def provisioned(server: PostgresService, passwords: dict[str, str]) -> dict[str, list[str]]:
    return provision(server.url, dict(passwords), services=DATABASE_SERVICES, root=MIGRATIONS)


def connect(server: PostgresService, service: str, password: str, database: str | None = None,
            ) -> psycopg.Connection[Any]:
    return psycopg.connect(host="127.0.0.1", port=server.port, user=role_name(service), password=password,
                           dbname=database or database_name(service), autocommit=True, connect_timeout=5)


def admin(server: PostgresService, database: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname=database, autocommit=True)


def test_every_service_gets_its_database_and_role(provisioned: dict[str, list[str]], server: PostgresService,
                                                  ) -> None:
    assert provisioned == {
        "databases": [database_name(s) for s in ("lms", "ai", "analytics", "notification")],
        "roles": [role_name(s) for s in ("lms", "ai", "analytics", "notification")],
        "migrated": ["lms", "ai", "analytics", "notification"],
    }
    with admin(server) as conn:
        rows = conn.execute(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication,"
            " rolbypassrls FROM pg_roles WHERE rolname LIKE 'smartcourse\\_%' ORDER BY rolname").fetchall()
    assert [r[0] for r in rows] == sorted(role_name(s) for s in DATABASE_SERVICES)
    assert {r[1:] for r in rows} == {(True, False, False, False, False, False, False)}


@pytest.mark.parametrize("service", DATABASE_SERVICES)
def test_a_role_connects_to_its_own_database_only(provisioned: Any, server: PostgresService,
                                                  passwords: dict[str, str], service: str) -> None:
    with connect(server, service, passwords[service]) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            role_name(service), database_name(service))
    others = [database_name(o) for o in DATABASE_SERVICES if o != service]
    for other in [*others, "postgres", "template1"]:  # nor the cluster's own databases
        with pytest.raises(psycopg.OperationalError, match=f'permission denied for database "{other}"'):
            connect(server, service, passwords[service], other)
    with admin(server) as conn:  # the admin keeps its way in
        assert conn.execute("SELECT current_database()").fetchone() == ("postgres",)


def test_a_role_cannot_touch_the_migrations_bookkeeping(provisioned: Any, server: PostgresService,
                                                        passwords: dict[str, str]) -> None:
    """A role that could rewrite alembic_version could make the next deploy skip or repeat migrations."""
    with connect(server, "lms", passwords["lms"]) as conn:
        for statement in ("SELECT version_num FROM alembic_version", "UPDATE alembic_version SET version_num = 'x'"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_a_role_changes_rows_of_its_migrated_tables(provisioned: Any, server: PostgresService,
                                                    passwords: dict[str, str]) -> None:
    with connect(server, "lms", passwords["lms"]) as conn:
        # An identity column: the role may use the table's sequence.
        row = conn.execute("INSERT INTO login_failures (email, source_ip) VALUES (%s, %s) RETURNING id",
                           ("roles@example.com", "127.0.0.1")).fetchone()
        assert row is not None
        conn.execute("UPDATE login_failures SET source_ip = %s WHERE id = %s", ("10.0.0.1", row[0]))
        assert conn.execute("SELECT source_ip FROM login_failures WHERE id = %s", (row[0],)).fetchone() == (
            "10.0.0.1",)
        assert conn.execute("DELETE FROM login_failures WHERE id = %s", (row[0],)).rowcount == 1
    with connect(server, "notification", passwords["notification"]) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        assert tables
        for table in tables:
            conn.execute(psycopg.sql.SQL("SELECT count(*) FROM {}").format(psycopg.sql.Identifier(table)))


@pytest.mark.parametrize(("statement", "message"), [
    ("CREATE ROLE smartcourse_intruder LOGIN PASSWORD 'x'", "permission denied to create role"),
    ("CREATE DATABASE smartcourse_intruder", "permission denied to create database"),
    ("CREATE TABLE intruder (id int)", "permission denied for schema public"),
    ("ALTER ROLE smartcourse_notification PASSWORD 'taken'", "permission denied to alter role"),
    ("DROP TABLE login_failures", "must be owner of table login_failures"),
    ("GRANT smartcourse_notification TO smartcourse_lms", "permission denied to grant role"),
])
def test_a_role_cannot_create_roles_databases_or_tables(provisioned: Any, server: PostgresService,
                                                        passwords: dict[str, str], statement: str,
                                                        message: str) -> None:
    with connect(server, "lms", passwords["lms"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege,
                                                                            match=message):
        conn.execute(statement)


def test_tables_of_later_migrations_are_covered_by_default_privileges(provisioned: Any, server: PostgresService,
                                                                      passwords: dict[str, str]) -> None:
    table = f"later_{uuid.uuid4().hex[:8]}"
    with admin(server, database_name("ai")) as conn:  # what the admin's next migration would do
        conn.execute(f"CREATE TABLE {table} (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text)")
    try:
        with connect(server, "ai", passwords["ai"]) as conn:
            row = conn.execute(f"INSERT INTO {table} (note) VALUES ('a') RETURNING id").fetchone()  # noqa: S608
            assert row is not None
            conn.execute(f"UPDATE {table} SET note = 'b' WHERE id = %s", (row[0],))  # noqa: S608
            assert conn.execute(f"DELETE FROM {table}").rowcount == 1  # noqa: S608
    finally:
        with admin(server, database_name("ai")) as conn:
            conn.execute(f"DROP TABLE {table}")


def test_provisioning_again_is_idempotent_and_rotates_the_password(provisioned: dict[str, list[str]],
                                                                   server: PostgresService,
                                                                   passwords: dict[str, str]) -> None:
    assert provision(server.url, dict(passwords), services=DATABASE_SERVICES, root=MIGRATIONS) == provisioned
    old, new = passwords["analytics"], secrets.token_urlsafe(24)
    provision(server.url, {**passwords, "analytics": new}, root=MIGRATIONS)
    passwords["analytics"] = new
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(server, "analytics", old)
    with connect(server, "analytics", new) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role_name("analytics"),)
    # Still its own database only, and the other roles are untouched.
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect(server, "analytics", new, database_name("lms"))
    with connect(server, "lms", passwords["lms"]) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() is not None


def test_a_clear_password_literal_survives_the_server(provisioned: Any, server: PostgresService) -> None:
    """The pure helper's quoting against a real server (``ensure_role`` sends a verifier instead)."""
    role = f"smartcourse_quoting_{uuid.uuid4().hex[:6]}"
    with admin(server) as conn:
        conn.execute(roles.create_role_sql(role, AWKWARD_PASSWORD))
        # postgres is closed to PUBLIC by the provisioning: this role gets in by an explicit grant.
        conn.execute(psycopg.sql.SQL("GRANT CONNECT ON DATABASE postgres TO {}").format(psycopg.sql.Identifier(role)))
    try:
        with psycopg.connect(host="127.0.0.1", port=server.port, user=role, password=AWKWARD_PASSWORD,
                             dbname="postgres", connect_timeout=5) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host="127.0.0.1", port=server.port, user=role, password="it's a ", dbname="postgres")
    finally:
        with admin(server) as conn:
            conn.execute(psycopg.sql.SQL("REVOKE CONNECT ON DATABASE postgres FROM {}").format(
                psycopg.sql.Identifier(role)))
            conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(role)))


@pytest.mark.parametrize("admin_from", ["master secret", "DATABASE_URL"])
def test_the_migrate_function_provisions_every_service_from_its_secret(
        provisioned: Any, server: PostgresService, passwords: dict[str, str], moto: Any,
        monkeypatch: pytest.MonkeyPatch, admin_from: str) -> None:
    import boto3
    from platform_fns import migrate
    from smartcourse import secrets as secret_store
    from smartcourse.settings import get_settings

    sm = boto3.client("secretsmanager", endpoint_url=moto.endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    new = {service: secrets.token_urlsafe(24) for service in DATABASE_SERVICES}
    arns = {service: sm.create_secret(Name=f"{service}-db-{suffix}", SecretString=json.dumps({
        "username": role_name(service), "password": new[service], "engine": "postgres",
        "host": "127.0.0.1", "port": server.port}))["ARN"] for service in DATABASE_SERVICES}
    for name in ("DATABASE_URL", "DB_SECRET_ARN", "DB_HOST", "DB_PORT", "DB_NAME"):
        monkeypatch.delenv(name, raising=False)
    if admin_from == "master secret":
        master = sm.create_secret(Name=f"master-db-{suffix}", SecretString=json.dumps(
            {"username": "postgres", "password": "not-checked-for-the-admin-here"}))["ARN"]
        monkeypatch.setenv("DB_SECRET_ARN", master)
        monkeypatch.setenv("DB_HOST", "127.0.0.1")
        monkeypatch.setenv("DB_PORT", str(server.port))
    else:
        monkeypatch.setenv("DATABASE_URL", server.url)
    monkeypatch.setenv("DB_SERVICE_SECRET_ARNS", json.dumps(arns))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    get_settings.cache_clear()
    secret_store.clear_cache()
    try:
        result = migrate.handler({"RequestType": "Create"}, None)
    finally:
        get_settings.cache_clear()
        secret_store.clear_cache()
    assert result == {"PhysicalResourceId": "smartcourse-migrations", "Data": {
        "databases": "smartcourse_lms,smartcourse_ai,smartcourse_analytics,smartcourse_notification",
        "roles": "smartcourse_lms,smartcourse_ai,smartcourse_analytics,smartcourse_notification",
        "migrated": "lms,ai,analytics,notification"}}
    old = dict(passwords)
    passwords.update(new)
    for service in DATABASE_SERVICES:
        with connect(server, service, new[service]) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (database_name(service),)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(server, service, old[service])
        other = next(s for s in DATABASE_SERVICES if s != service)
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            connect(server, service, new[service], database_name(other))


def test_the_migrate_function_refuses_a_secret_of_another_role(provisioned: Any, server: PostgresService,
                                                               passwords: dict[str, str], moto: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from platform_fns import migrate
    from smartcourse import secrets as secret_store
    from smartcourse.settings import get_settings

    sm = boto3.client("secretsmanager", endpoint_url=moto.endpoint, region_name="us-east-1")
    arn = sm.create_secret(Name=f"wrong-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(
        {"username": role_name("notification"), "password": "stolen"}))["ARN"]
    monkeypatch.setenv("DATABASE_URL", server.url)
    monkeypatch.setenv("DB_SERVICE_SECRET_ARNS", json.dumps({"lms": arn}))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    get_settings.cache_clear()
    secret_store.clear_cache()
    try:
        with pytest.raises(ValueError, match="expected 'smartcourse_lms'"):
            migrate.handler({}, None)
    finally:
        get_settings.cache_clear()
        secret_store.clear_cache()
    with connect(server, "notification", passwords["notification"]) as conn:  # nothing was changed
        assert conn.execute("SELECT 1").fetchone() == (1,)


# ------------------------------------------------------------------------------------------ the local runner

PROBE = '''
import os

import psycopg


def handler(event, context):
    url = os.environ.get("DATABASE_URL", "")
    found = {"DATABASE_URL": url}
    if event.get("connect"):
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
            found["user"], found["database"] = conn.execute("SELECT current_user, current_database()").fetchone()
    return found
'''


def write_assembly(root: Path) -> Path:
    """One stack: a function per service database, the migrate function, and one without a database."""
    cdk_out = root / "cdk.out"
    (cdk_out / "code").mkdir(parents=True)
    (cdk_out / "code" / "db_probe.py").write_text(PROBE)

    def function(env: dict[str, str]) -> dict[str, Any]:
        return {"Type": "AWS::Lambda::Function", "Metadata": {"aws:asset:path": "code"}, "Properties": {
            "Runtime": "python3.12", "Handler": "db_probe.handler", "Timeout": 20,
            "Code": {"S3Bucket": "assets", "S3Key": "code.zip"}, "Environment": {"Variables": env}}}

    resources = {f"{s.capitalize()}Fn": function({"SERVICE_NAME": s, "DB_NAME": database_name(s)})
                 for s in DATABASE_SERVICES}
    resources["MigrateFn"] = function({"SERVICE_NAME": "platform", "DB_NAME": database_name("lms"),
                                       "DB_SERVICE_SECRET_ARNS": "{}"})
    resources["PlainFn"] = function({"SERVICE_NAME": "platform"})
    (cdk_out / "Roles.template.json").write_text(json.dumps({"Resources": resources}))
    (cdk_out / "manifest.json").write_text(json.dumps({"version": "36.0.0", "artifacts": {"Roles": {
        "type": "aws:cloudformation:stack", "properties": {"templateFile": "Roles.template.json"}}}}))
    return cdk_out


def test_the_runner_connects_each_function_as_its_service_role(provisioned: Any, server: PostgresService,
                                                               passwords: dict[str, str],
                                                               tmp_path: Path) -> None:
    from localcloud.runner import LocalCloudRunner

    credentials = {database_name(s): (role_name(s), passwords[s]) for s in DATABASE_SERVICES}
    runner = LocalCloudRunner(write_assembly(tmp_path), overrides={"DATABASE_URL": server.url},
                              state_dir=tmp_path / "state", database_credentials=credentials, idle_ttl=30)
    runner.start()
    try:
        for service in DATABASE_SERVICES:
            found = runner.invoke(f"{service.capitalize()}Fn", {"connect": True})
            assert (found["user"], found["database"]) == (role_name(service), database_name(service))
            assert passwords[service] not in server.url and found["DATABASE_URL"].endswith(
                f"@127.0.0.1:{server.port}/{database_name(service)}")
        # The migrate function keeps the admin URL (it creates the roles); a function without a database
        # (no DB_NAME) gets no DATABASE_URL, as it has no database access in AWS.
        migrate = runner.invoke("MigrateFn", {"connect": True})
        assert (migrate["user"], migrate["database"]) == ("postgres", database_name("lms"))
        assert runner.invoke("PlainFn", {})["DATABASE_URL"] == ""
    finally:
        runner.stop()
