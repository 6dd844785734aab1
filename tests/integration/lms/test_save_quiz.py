"""The internal ``lms-assets-save-quiz`` function (the AI service's Lambda → Lambda call), against real PostgreSQL
and the S3 emulator: the LMS's staff rules, the stored quiz document and the asset it creates."""

from __future__ import annotations

import hashlib
import importlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from smartcourse_lms.auth.domain import Role
from smartcourse_lms.auth.repository import insert_user
from smartcourse_lms.catalogue import INTERNAL_FUNCTIONS
from sqlalchemy import Engine, text

from stacks.services import function
from tests.support import auth as fixtures
from tests.support.apigw import body_of, rest_event
from tests.support.auth import count

lms_url, engine, handler_env = fixtures.lms_url, fixtures.engine, fixtures.handler_env

pytestmark = pytest.mark.integration

FUNCTION = "lms-assets-save-quiz"
QUIZ_ASSETS = "SELECT count(*) FROM assets WHERE asset_type = 'quiz'"


def call(name: str, who: tuple[str, str] | None, **kwargs: Any) -> dict[str, Any]:
    module = importlib.import_module(function(f"lms-{name}").module)
    return module.handler(rest_event(function(f"lms-{name}"), principal=who, **kwargs), None)


def save(event: Any) -> dict[str, Any]:
    """As the AI service invokes it: the event is the JSON payload of a Lambda invoke."""
    return importlib.import_module(function(FUNCTION).module).handler(event, None)


def _user(engine: Engine, *roles: Role) -> tuple[str, str]:
    user_id = uuid.uuid4()
    with engine.begin() as conn:
        assert insert_user(conn, user_id=user_id, email=f"q-{user_id.hex[:12]}@it.smartcourse.local",
                           password_hash="x", full_name="Quiz Tester", roles=list(roles), now=datetime.now(UTC))
    return str(user_id), ",".join(r.value for r in roles)


@pytest.fixture(scope="module")
def people(engine: Engine) -> dict[str, tuple[str, str]]:
    return {"owner": _user(engine, Role.INSTRUCTOR), "other": _user(engine, Role.INSTRUCTOR),
            "learner": _user(engine, Role.STUDENT), "admin": _user(engine, Role.ADMIN)}


@pytest.fixture
def content_bucket(handler_env: str, moto: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """CONTENT_BUCKET as the stack sets it for functions with the content-bucket grant, in the emulator."""
    from smartcourse import storage
    from smartcourse.settings import get_settings
    from smartcourse_lms.assets import service as assets_service

    name = f"quiz-it-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto.endpoint).create_bucket(Bucket=name)
    monkeypatch.setenv("CONTENT_BUCKET", name)
    get_settings.cache_clear()
    storage.reset_client()
    assets_service._service = None
    yield name
    assets_service._service = None
    storage.reset_client()
    get_settings.cache_clear()


def _created(response: dict[str, Any]) -> dict[str, Any]:
    assert response["statusCode"] in (200, 201), response["body"]
    return body_of(response)


@pytest.fixture
def world(content_bucket: str, people: dict) -> dict[str, str]:
    """A published course (module M: a video; module N: empty) and another instructor's course with module X."""
    owner = people["owner"]
    course = _created(call("courses-create", owner, body={"title": "Quiz " + uuid.uuid4().hex[:6]}))
    module = _created(call("modules-create", owner, body={"course_id": course["id"], "title": "Soil"}))
    _created(call("assets-create", owner, body={"module_id": module["id"], "title": "Intro", "asset_type": "video",
                                                "source_url": "https://videos.example.test/1"}))
    _created(call("courses-publish", owner, path_params={"course_id": course["id"]}))
    spare = _created(call("modules-create", owner, body={"course_id": course["id"], "title": "Water"}))
    foreign = _created(call("courses-create", people["other"], body={"title": "Other " + uuid.uuid4().hex[:6]}))
    foreign_module = _created(call("modules-create", people["other"],
                                   body={"course_id": foreign["id"], "title": "Elsewhere"}))
    return {"course": course["id"], "module": module["id"], "spare": spare["id"], "foreign": foreign["id"],
            "foreign_module": foreign_module["id"]}


def _question(n: int, **extra: Any) -> dict[str, Any]:
    return {"question": f"What does soil hold? ({n})", "options": ["Water", "Light", "Sound", "Time"],
            "answer_index": n % 4, "explanation": "Soil holds water between its particles.",
            "source_chunk_ids": [str(uuid.uuid4())], **extra}


def _event(who: tuple[str, str], course_id: str, module_id: str, *, questions: int = 3,
           **overrides: Any) -> dict[str, Any]:
    return {"actor": {"user_id": who[0], "roles": who[1].split(",")}, "course_id": course_id,
            "module_id": module_id, "title": "Soil check",
            "quiz": {"questions": [_question(n) for n in range(questions)],
                     "generated_by": {"provider": "extractive", "model": "smartcourse-extractive-1"}},
            **overrides}


def _assets(engine: Engine, module_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM assets WHERE module_id = :m ORDER BY order_index"),
                                              {"m": module_id}).mappings()]


def test_the_function_is_internal_and_has_its_module(handler_env: str) -> None:
    fn = function(FUNCTION)
    assert fn in INTERNAL_FUNCTIONS and not fn.routes
    assert callable(importlib.import_module(fn.module).handler)


def test_the_instructor_saves_a_quiz_at_the_end_of_the_module(content_bucket: str, engine: Engine, people: dict,
                                                              world: dict) -> None:
    event = _event(people["owner"], world["course"], world["module"])
    result = save(event)
    assert result["status"] == 201, result
    asset = result["asset"]
    assert asset["module_id"] == world["module"] and asset["asset_type"] == "quiz"
    assert asset["title"] == "Soil check" and asset["order_index"] == 1  # after the video
    assert asset["description"] == "3 questions, generated by smartcourse-extractive-1"
    assert asset["status"] == "draft" and asset["source_url"] is None
    assert json.loads(json.dumps(result)) == result  # a Lambda result is JSON

    key = f"courses/{world['course']}/modules/{world['module']}/assets/{asset['id']}/content.json"
    stored = boto3.client("s3").get_object(Bucket=content_bucket, Key=key)
    data = stored["Body"].read()
    assert stored["ContentType"] == "application/json"
    assert asset["size_bytes"] == len(data) and asset["content_hash"] == hashlib.sha256(data).hexdigest()
    assert asset["content_version"] == 1
    document = json.loads(data)
    assert document["schema"] == "smartcourse.quiz.v1" and document["asset_id"] == asset["id"]
    assert document["generated_by"] == {"provider": "extractive", "model": "smartcourse-extractive-1"}
    assert [q["answer_index"] for q in document["questions"]] == [0, 1, 2]  # the answer keys are kept
    assert document["questions"] == event["quiz"]["questions"]

    [video, quiz] = _assets(engine, world["module"])
    assert video["asset_type"] == "video" and quiz["id"] == uuid.UUID(asset["id"])
    # The API shows it like any asset; a learner gets no content link to the answer keys.
    got = _created(call("assets-get", people["learner"], path_params={"asset_id": asset["id"]}))
    assert got["asset_type"] == "quiz" and got["content_url"] is None
    second = save(_event(people["owner"], world["course"], world["module"], questions=1))
    assert second["status"] == 201 and second["asset"]["order_index"] == 2
    assert second["asset"]["description"] == "1 question, generated by smartcourse-extractive-1"


def test_an_admin_may_save_into_any_course(content_bucket: str, people: dict, world: dict) -> None:
    result = save(_event(people["admin"], world["foreign"], world["foreign_module"]))
    assert result["status"] == 201, result
    assert result["asset"]["module_id"] == world["foreign_module"] and result["asset"]["order_index"] == 0


@pytest.mark.parametrize("who", ["other", "learner"])
def test_who_is_not_staff_gets_403_and_nothing_is_stored(content_bucket: str, engine: Engine, people: dict,
                                                         world: dict, who: str) -> None:
    before = count(engine, QUIZ_ASSETS)
    result = save(_event(people[who], world["course"], world["module"]))
    assert result == {"status": 403, "detail": "Only the course's instructor or an admin may do this"}
    assert count(engine, QUIZ_ASSETS) == before
    listed = boto3.client("s3").list_objects_v2(Bucket=content_bucket, Prefix=f"courses/{world['course']}/")
    assert listed.get("KeyCount", 0) == 0


def test_unknown_course_or_a_module_of_another_course_is_404(content_bucket: str, engine: Engine, people: dict,
                                                            world: dict) -> None:
    before = count(engine, QUIZ_ASSETS)
    elsewhere = save(_event(people["owner"], world["course"], world["foreign_module"]))
    assert elsewhere == {"status": 404, "detail": "Module not found"}
    assert save(_event(people["owner"], world["course"], str(uuid.uuid4())))["status"] == 404
    assert save(_event(people["owner"], str(uuid.uuid4()), world["module"]))["status"] == 404
    # Someone else's draft is not disclosed (404, as the API answers), not 403.
    assert save(_event(people["owner"], world["foreign"], world["foreign_module"]))["status"] == 404
    # The admin passes the staff rule; the module still has to be the course's.
    assert save(_event(people["admin"], world["foreign"], world["module"]))["status"] == 404
    assert count(engine, QUIZ_ASSETS) == before


@pytest.mark.parametrize("change", [
    pytest.param(lambda e: e["quiz"]["questions"][0].update(options=["A", "B", "C"]), id="three-options"),
    pytest.param(lambda e: e.update(title="Soil\x00check"), id="nul-in-title"),
    pytest.param(lambda e: e["quiz"]["questions"][1].update(question="Why\x00?"), id="nul-in-question"),
    pytest.param(lambda e: e["quiz"]["questions"][0].update(options=["A", "B", "A", "C"]), id="repeated-option"),
    pytest.param(lambda e: e["quiz"]["questions"][0].update(answer_index=4), id="answer-out-of-range"),
    pytest.param(lambda e: e["quiz"]["questions"][0].update(answer_index="1"), id="answer-as-text"),
    pytest.param(lambda e: e["quiz"].update(questions=[]), id="no-questions"),
    pytest.param(lambda e: e["quiz"].update(questions=[_question(n) for n in range(21)]), id="21-questions"),
    pytest.param(lambda e: e.update(title=" "), id="blank-title"),
    pytest.param(lambda e: e.update(title="x" * 256), id="long-title"),
    pytest.param(lambda e: e["quiz"]["questions"][0].update(question="x" * 2001), id="long-question"),
    pytest.param(lambda e: e.update(module_id="not-a-uuid"), id="bad-module-id"),
    pytest.param(lambda e: e["actor"].update(roles=["superuser"]), id="unknown-role"),
    pytest.param(lambda e: e.pop("actor"), id="no-actor"),
    pytest.param(lambda e: e["quiz"].pop("generated_by"), id="no-generator"),
    pytest.param(lambda e: e.update(title="\ud800"), id="lone-surrogate"),
])
def test_bad_events_are_422_and_store_nothing(content_bucket: str, engine: Engine, people: dict, world: dict,
                                              change: Any) -> None:
    event = _event(people["owner"], world["course"], world["module"])
    change(event)
    before = count(engine, QUIZ_ASSETS)
    result = save(event)
    assert result["status"] == 422 and result["detail"] == "Invalid save-quiz request", result
    assert result["problems"] and all(set(p) == {"loc", "msg", "type"} for p in result["problems"])
    assert "\x00" not in json.dumps(result)  # no input is echoed back
    assert count(engine, QUIZ_ASSETS) == before
    listed = boto3.client("s3").list_objects_v2(Bucket=content_bucket, Prefix=f"courses/{world['course']}/")
    assert listed.get("KeyCount", 0) == 0


@pytest.mark.parametrize("event", [None, [], "save", 7])
def test_an_event_that_is_not_an_object_is_422(content_bucket: str, event: Any) -> None:
    assert save(event)["status"] == 422


def test_an_archived_course_is_409(content_bucket: str, engine: Engine, people: dict, world: dict) -> None:
    _created(call("courses-archive", people["owner"], path_params={"course_id": world["course"]}))
    before = count(engine, QUIZ_ASSETS)
    for who in ("owner", "admin"):
        result = save(_event(people[who], world["course"], world["spare"]))
        assert result == {"status": 409, "detail": "The course is archived; nothing can be added to it"}
    assert save(_event(people["learner"], world["course"], world["spare"]))["status"] == 404  # hidden once archived
    assert count(engine, QUIZ_ASSETS) == before
    assert _assets(engine, world["spare"]) == []
