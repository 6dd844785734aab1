"""Database and role names, the role SQL's pure helpers, the migrate function's secret contract, the local
cloud's role passwords and the runner's per-function database URL: no server needed."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from psycopg import sql
from smartcourse.catalogue import Service
from smartcourse.db import roles
from smartcourse.db.migrate import role_password, service_secret_arns
from smartcourse.db.names import DATABASE_SERVICES, database_name, role_name, service_of_database


def text(composed: sql.Composable) -> str:
    return composed.as_string(None)


def test_one_spelling_of_database_and_role_names() -> None:
    assert database_name("lms") == role_name("lms") == "smartcourse_lms"
    assert database_name(Service.NOTIFICATION) == "smartcourse_notification"
    assert service_of_database("smartcourse_analytics") == "analytics"
    assert service_of_database("postgres") is None
    assert "platform" not in DATABASE_SERVICES and "lms" in DATABASE_SERVICES


@pytest.mark.parametrize("bad", ["", "LMS", "lms-x", "lms;drop", 'a"b', "x" * 60, "1lms", "lms "])
def test_bad_service_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a service name"):
        database_name(bad)
    with pytest.raises(ValueError, match="not a service name"):
        role_name(bad)


def test_settings_default_database_follows_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse.settings import get_settings

    monkeypatch.delenv("DB_NAME", raising=False)
    monkeypatch.setenv("SERVICE_NAME", "notification")
    get_settings.cache_clear()
    try:
        assert get_settings().db_name == "smartcourse_notification"
        monkeypatch.setenv("DB_NAME", "elsewhere")
        get_settings.cache_clear()
        assert get_settings().db_name == "elsewhere"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("bad", ["", "Smartcourse_lms", 'smartcourse_lms"; DROP ROLE postgres; --', "a b",
                                 "smartcourse-lms", "x" * 64, "é", "lms\x00"])
def test_identifiers_outside_the_strict_pattern_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a role name"):
        roles.create_role_sql(bad, "pw")
    with pytest.raises(ValueError, match="not a database name"):
        roles.create_database_sql(bad)
    with pytest.raises(ValueError):
        roles.database_grants_sql(bad, "smartcourse_lms")
    with pytest.raises(ValueError):
        roles.schema_grants_sql(bad)


def test_role_sql_has_every_restricting_attribute_and_a_quoted_password() -> None:
    assert text(roles.create_role_sql("smartcourse_lms", "s3cret")) == (
        'CREATE ROLE "smartcourse_lms" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION '
        "PASSWORD 's3cret'")
    assert text(roles.alter_role_sql("smartcourse_lms", None)) == (
        'ALTER ROLE "smartcourse_lms" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION')


@pytest.mark.parametrize(("password", "literal"), [
    ("it's", "'it''s'"),
    ("''; DROP ROLE postgres; --", "'''''; DROP ROLE postgres; --'"),
    ("back\\slash", "E'back\\\\slash'"),
    ("both\\'", "E'both\\\\'''"),
    ('dollar $$ "quote"', "'dollar $$ \"quote\"'"),
])
def test_passwords_are_quoted_as_one_literal(password: str, literal: str) -> None:
    statement = text(roles.alter_role_sql("smartcourse_lms", password))
    assert statement.endswith(f"PASSWORD {literal}") or statement.endswith(f"PASSWORD  {literal}")


@pytest.mark.parametrize("bad", ["", "nul\x00byte"])
def test_unusable_passwords_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="password"):
        roles.create_role_sql("smartcourse_lms", bad)


def test_grants_give_row_access_only_and_shut_public_out() -> None:
    database = [text(s) for s in roles.database_grants_sql("smartcourse_lms", "smartcourse_lms")]
    assert database == ['REVOKE CONNECT, TEMPORARY ON DATABASE "smartcourse_lms" FROM PUBLIC',
                        'GRANT CONNECT, TEMPORARY ON DATABASE "smartcourse_lms" TO "smartcourse_lms"']
    schema = [text(s) for s in roles.schema_grants_sql("smartcourse_lms")]
    assert schema == [
        'REVOKE CREATE ON SCHEMA "public" FROM PUBLIC',
        'GRANT USAGE ON SCHEMA "public" TO "smartcourse_lms"',
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "public" TO "smartcourse_lms"',
        'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "public" TO "smartcourse_lms"',
        'ALTER DEFAULT PRIVILEGES IN SCHEMA "public" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES '
        'TO "smartcourse_lms"',
        'ALTER DEFAULT PRIVILEGES IN SCHEMA "public" GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "smartcourse_lms"',
    ]


def test_connect_keywords_keep_the_password_as_it_is() -> None:
    kwargs = roles.connect_kwargs("postgresql+psycopg://admin:p%40ss%2Fw%3Ard@db.example:6543")
    assert kwargs == {"host": "db.example", "port": 6543, "user": "admin", "password": "p@ss/w:rd",
                      "dbname": "postgres", "connect_timeout": 10}
    assert roles.connect_kwargs("postgresql://a@h/smartcourse_lms", "smartcourse_ai")["dbname"] == "smartcourse_ai"


def test_service_secret_arns_are_a_json_object_of_services() -> None:
    assert service_secret_arns(None) == {}
    assert service_secret_arns('{"lms": "arn:a", "ai": "arn:b"}') == {"lms": "arn:a", "ai": "arn:b"}
    for bad in ("not json", '["arn"]', '{"lms": 3}', '{"lms": ""}'):
        with pytest.raises(ValueError, match="DB_SERVICE_SECRET_ARNS"):
            service_secret_arns(bad)
    with pytest.raises(ValueError, match="names no service"):
        service_secret_arns('{"LMS; --": "arn:a"}')
    with pytest.raises(ValueError, match="names no service: admin"):
        service_secret_arns('{"lms": "arn:a", "admin": "arn:b"}')  # would name the master user


def test_a_service_secret_must_name_the_service_role() -> None:
    assert role_password("lms", {"username": "smartcourse_lms", "password": "pw", "host": "h"}) == "pw"
    # After an alternating-users rotation the secret names the rotation's clone: the role's password stays.
    assert role_password("lms", {"username": "smartcourse_lms_clone", "password": "pw"}) is None
    with pytest.raises(ValueError, match="expected 'smartcourse_lms'"):
        role_password("lms", {"username": "smartcourse_notification", "password": "pw"})
    with pytest.raises(ValueError, match="no password"):
        role_password("lms", {"username": "smartcourse_lms"})


def test_local_role_passwords_are_made_once_and_private(tmp_path: Path) -> None:
    from localcloud.cloud import local_role_passwords

    path = tmp_path / "state" / "db-roles.json"
    first = local_role_passwords(path, ["lms", "notification"])
    assert set(first) == {"lms", "notification"} and all(len(p) >= 32 for p in first.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = local_role_passwords(path, ["lms", "notification", "ai"])
    assert again["lms"] == first["lms"] and again["notification"] == first["notification"] and again["ai"]
    assert json.loads(path.read_text()) == again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_runner_gives_a_function_its_own_service_role(tmp_path: Path) -> None:
    from localcloud.runner import LocalCloudRunner
    from sqlalchemy import make_url

    server = "postgresql+psycopg://postgres@127.0.0.1:5432"
    runner = LocalCloudRunner(tmp_path, overrides={"DATABASE_URL": server}, database_credentials={
        "smartcourse_lms": ("smartcourse_lms", "p@ss/:w"), "smartcourse_ai": ("smartcourse_ai", "other")})
    lms = make_url(runner.database_server_url("f", {"DB_NAME": "smartcourse_lms"}) or "")
    assert (lms.username, lms.password, lms.host, lms.port, lms.database) == (
        "smartcourse_lms", "p@ss/:w", "127.0.0.1", 5432, None)
    assert make_url(runner.database_server_url("f", {"DB_NAME": "smartcourse_ai"}) or "").username == "smartcourse_ai"
    # The migrate function: DATABASE_URL as it is (the admin, as the master secret in AWS).
    assert runner.database_server_url("f", {"DB_SERVICE_SECRET_ARNS": "{}"}) == server
    assert runner.database_server_url("f", {"DB_NAME": "smartcourse_lms", "DB_SERVICE_SECRET_ARNS": "{}"}) == server
    # A database without a role: refused, never the admin (in AWS it would have no credentials either).
    with pytest.raises(ValueError, match="no database role for runner_test_db"):
        runner.database_server_url("f", {"DB_NAME": "runner_test_db"})
    # No DB_NAME: no database access at all, as in AWS.
    assert runner.database_server_url("f", {}) is None
    # Without credentials the runner behaves as before: DATABASE_URL for every function.
    plain = LocalCloudRunner(tmp_path, overrides={"DATABASE_URL": server})
    assert plain.database_server_url("f", {"DB_NAME": "smartcourse_lms"}) == server
    assert plain.database_server_url("f", {}) == server
    assert LocalCloudRunner(tmp_path).database_server_url("f", {"DB_NAME": "smartcourse_lms"}) is None
