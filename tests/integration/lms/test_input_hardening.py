"""Inputs the API fuzzer found (tests/e2e/platform/test_fuzz.py), kept as fast handler regressions.

Each is refused with a 4xx that names the problem, and nothing is written.
"""

from __future__ import annotations

import importlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from smartcourse_lms.auth.domain import Role
from smartcourse_lms.auth.repository import insert_user
from sqlalchemy import Engine

from stacks.services import function
from tests.support import auth as fixtures
from tests.support.apigw import body_of, rest_event
from tests.support.auth import count

lms_url, engine, handler_env = fixtures.lms_url, fixtures.engine, fixtures.handler_env

pytestmark = pytest.mark.integration


def call(name: str, who: tuple[str, str] | None, **kwargs: Any) -> dict[str, Any]:
    fn = function(f"lms-{name}")
    return importlib.import_module(fn.module).handler(rest_event(fn, principal=who, **kwargs), None)


def _user(engine: Engine, *roles: Role) -> tuple[str, str]:
    user_id = uuid.uuid4()
    with engine.begin() as conn:
        assert insert_user(conn, user_id=user_id, email=f"h-{user_id.hex[:12]}@it.smartcourse.local",
                           password_hash="x", full_name="Hardening Tester", roles=list(roles),
                           now=datetime.now(UTC))
    return str(user_id), ",".join(r.value for r in roles)


@pytest.fixture(scope="module")
def owner(engine: Engine) -> tuple[str, str]:
    return _user(engine, Role.INSTRUCTOR)


@pytest.fixture(scope="module")
def admin(engine: Engine) -> tuple[str, str]:
    return _user(engine, Role.ADMIN)


@pytest.fixture
def course(handler_env: str, owner: tuple[str, str]) -> dict[str, Any]:
    created = call("courses-create", owner, body={"title": "Hardening " + uuid.uuid4().hex[:6]})
    assert created["statusCode"] == 201, created["body"]
    return body_of(created)


@pytest.fixture
def module(course: dict[str, Any], owner: tuple[str, str]) -> dict[str, Any]:
    created = call("modules-create", owner, body={"course_id": course["id"], "title": "M"})
    assert created["statusCode"] == 201, created["body"]
    return body_of(created)


@pytest.fixture
def asset(module: dict[str, Any], owner: tuple[str, str]) -> dict[str, Any]:
    created = call("assets-create", owner, body={"module_id": module["id"], "title": "A", "asset_type": "article"})
    assert created["statusCode"] == 201, created["body"]
    return body_of(created)


NUL = "a\x00b"
LONE_SURROGATE = '"a\\ud800b"'  # JSON text: json.loads gives a str with an unpaired surrogate


def _courses_titled(engine: Engine, title: str) -> int:
    return count(engine, "SELECT count(*) FROM courses WHERE title = :t", t=title)


@pytest.mark.parametrize("field", ["title", "description", "category"])
def test_nul_in_a_course_field_is_422_and_stores_nothing(handler_env: str, engine: Engine, owner: tuple[str, str],
                                                        field: str) -> None:
    title = "Nul " + uuid.uuid4().hex[:8]
    body = {"title": title, field: NUL} if field != "title" else {"title": title + NUL}
    response = call("courses-create", owner, body=body)
    assert response["statusCode"] == 422, response["body"]
    assert body_of(response)["detail"][0]["loc"] == ["body", field]
    assert _courses_titled(engine, title) == 0


def test_nul_in_a_base64_encoded_body_is_422_and_stores_nothing(handler_env: str, engine: Engine,
                                                                owner: tuple[str, str]) -> None:
    """API Gateway hands a binary media type's body base64-encoded: it is screened as it will be read."""
    title = "Nul64 " + uuid.uuid4().hex[:8]
    raw = json.dumps({"title": title, "description": "a" + NUL})
    response = call("courses-create", owner, raw_body=raw, base64_body=True)
    assert response["statusCode"] == 422, response["body"]
    assert body_of(response)["detail"][0]["loc"] == ["body", "description"]
    assert _courses_titled(engine, title) == 0


def test_unpaired_surrogate_in_a_title_is_422(handler_env: str, engine: Engine, owner: tuple[str, str]) -> None:
    response = call("courses-create", owner, raw_body='{"title": ' + LONE_SURROGATE + "}")
    assert response["statusCode"] == 422, response["body"]


def test_nul_in_module_asset_and_update_bodies_is_422_and_changes_nothing(
        handler_env: str, engine: Engine, owner: tuple[str, str], course: dict[str, Any], module: dict[str, Any],
        asset: dict[str, Any]) -> None:
    cases = [
        ("modules-create", None, {"course_id": course["id"], "title": NUL}),
        ("assets-create", None, {"module_id": module["id"], "title": "A", "asset_type": "article",
                                 "description": NUL}),
        ("courses-patch", {"course_id": course["id"]}, {"description": NUL}),
        ("modules-patch", {"module_id": module["id"]}, {"title": NUL}),
        ("assets-patch", {"asset_id": asset["id"]}, {"source_url": "https://x.test/" + NUL}),
    ]
    rows = "SELECT (SELECT count(*) FROM modules) * 1000000 + (SELECT count(*) FROM assets)"
    before = count(engine, rows)
    for name, params, body in cases:
        response = call(name, owner, path_params=params, body=body)
        assert response["statusCode"] == 422, (name, response["body"])
    assert count(engine, rows) == before
    assert body_of(call("courses-get", owner, path_params={"course_id": course["id"]}))["description"] is None


def test_nul_in_a_query_parameter_is_422(handler_env: str, owner: tuple[str, str]) -> None:
    response = call("courses-list", owner, query={"q": NUL})
    assert response["statusCode"] == 422, response["body"]
    assert body_of(response)["detail"][0]["loc"] == ["query", "q"]


@pytest.mark.parametrize(("name", "field", "value"), [
    ("modules-create", "order_index", False), ("modules-create", "order_index", 1.5),
    ("courses-create", "max_students", True), ("assets-create", "duration_seconds", False),
])
def test_a_boolean_or_fraction_is_not_a_number(handler_env: str, engine: Engine, owner: tuple[str, str],
                                               module: dict[str, Any], name: str, field: str, value: Any) -> None:
    bodies = {"modules-create": {"course_id": module["course_id"], "title": "Strict"},
              "courses-create": {"title": "Strict " + uuid.uuid4().hex[:6]},
              "assets-create": {"module_id": module["id"], "title": "Strict", "asset_type": "article"}}
    response = call(name, owner, body={**bodies[name], field: value})
    assert response["statusCode"] == 422, response["body"]
    assert body_of(response)["detail"][0]["loc"] == ["body", field]


@pytest.mark.parametrize(("name", "params"), [
    ("courses-patch", {"course_id"}), ("assets-patch", {"asset_id"}), ("assets-upload-url", {"asset_id"}),
])
def test_a_json_body_labelled_as_text_is_415_and_changes_nothing(
        handler_env: str, owner: tuple[str, str], course: dict[str, Any], asset: dict[str, Any], name: str,
        params: set[str]) -> None:
    ids = {"course_id": course["id"], "asset_id": asset["id"]}
    body = {"title": "Changed"} if name != "assets-upload-url" else {"content_type": "text/markdown",
                                                                      "size_bytes": 10}
    response = call(name, owner, path_params={p: ids[p] for p in params}, raw_body=json.dumps(body),
                    content_type="text/plain")
    assert response["statusCode"] == 415, response["body"]
    assert body_of(call("courses-get", owner, path_params={"course_id": course["id"]}))["title"] == course["title"]
    assert body_of(call("assets-get", owner, path_params={"asset_id": asset["id"]}))["title"] == asset["title"]


def test_a_huge_offset_is_422_not_a_database_error(handler_env: str, admin: tuple[str, str]) -> None:
    response = call("admin-list-users", admin, query={"offset": str(10**12)})
    assert response["statusCode"] == 422, response["body"]
    assert body_of(response)["detail"][0]["loc"] == ["query", "offset"]
