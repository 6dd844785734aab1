"""Course and module handlers invoked with API Gateway REST proxy events, against real PostgreSQL."""

from __future__ import annotations

import importlib
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from smartcourse_lms.auth.domain import Role
from smartcourse_lms.auth.repository import insert_user
from smartcourse_lms.catalogue import API_FUNCTIONS as LMS_FUNCTIONS
from smartcourse_lms.courses.repository import PREREQUISITE_GRAPH_LOCK
from sqlalchemy import Engine, func, select, text

from stacks.services import function
from tests.support import auth as fixtures
from tests.support.apigw import body_of, rest_event
from tests.support.auth import count

lms_url, engine, handler_env = fixtures.lms_url, fixtures.engine, fixtures.handler_env

pytestmark = pytest.mark.integration


def _module(name: str) -> ModuleType:
    return importlib.import_module(function(name).module)


def call(name: str, who: tuple[str, str] | None, **kwargs: Any) -> dict[str, Any]:
    return _module(f"lms-{name}").handler(rest_event(function(f"lms-{name}"), principal=who, **kwargs), None)


def _user(engine: Engine, *roles: Role) -> tuple[str, str]:
    user_id = uuid.uuid4()
    with engine.begin() as conn:
        assert insert_user(conn, user_id=user_id, email=f"c-{user_id.hex[:12]}@it.smartcourse.local",
                           password_hash="x", full_name="Course Tester", roles=list(roles), now=datetime.now(UTC))
    return str(user_id), ",".join(r.value for r in roles)


@pytest.fixture(scope="module")
def people(engine: Engine) -> dict[str, tuple[str, str]]:
    return {"owner": _user(engine, Role.INSTRUCTOR), "other": _user(engine, Role.INSTRUCTOR),
            "student": _user(engine, Role.STUDENT), "admin": _user(engine, Role.ADMIN)}


def _create(who: tuple[str, str], **body: Any) -> dict[str, Any]:
    response = call("courses-create", who, body={"title": "Course " + uuid.uuid4().hex[:6], **body})
    assert response["statusCode"] == 201, response["body"]
    return body_of(response)


def _module_of(who: tuple[str, str], course_id: str, **body: Any) -> dict[str, Any]:
    response = call("modules-create", who, body={"course_id": course_id, "title": "Module", **body})
    assert response["statusCode"] == 201, response["body"]
    return body_of(response)


def _asset(engine: Engine, module_id: str, asset_type: str = "video", status: str = "ready",
           description: str | None = None) -> str:
    asset_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO assets (id, module_id, title, asset_type, status, source_url, description) "
                          "VALUES (:id, :m, :t, :a, :s, :u, :d)"),
                     {"id": asset_id, "m": module_id, "t": f"{asset_type} asset", "a": asset_type, "s": status,
                      "u": "https://video.example.test/1" if asset_type != "article" else None, "d": description})
    return asset_id


def _enroll(engine: Engine, user: tuple[str, str], course_id: str, status: str = "active") -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO enrollments (id, user_id, course_id, status) VALUES (:id, :u, :c, :s)"),
                     {"id": str(uuid.uuid4()), "u": user[0], "c": course_id, "s": status})


def _published(engine: Engine, who: tuple[str, str], **body: Any) -> dict[str, Any]:
    course = _create(who, **body)
    _asset(engine, _module_of(who, course["id"])["id"])
    response = call("courses-publish", who, path_params={"course_id": course["id"]})
    assert response["statusCode"] == 200, response["body"]
    return body_of(response)


def _events(engine: Engine, aggregate_id: str) -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_type, envelope FROM outbox WHERE aggregate_id = :a ORDER BY id"),
                            {"a": aggregate_id}).all()
    return [(r[0], r[1]) for r in rows]


def test_every_course_and_module_function_has_its_module(handler_env: str) -> None:
    fns = [fn for fn in LMS_FUNCTIONS if fn.module.startswith(("lms.courses.", "lms.modules."))]
    assert len(fns) == 17
    for fn in fns:
        module = _module(fn.name)
        assert callable(module.handler)
        assert fn in (getattr(module, "FUNCTIONS", None) or (module.FUNCTION,))


# --- create ------------------------------------------------------------------------------------------------


def test_create_course_writes_the_row_and_course_created_in_one_transaction(handler_env: str, engine: Engine,
                                                                              people: dict) -> None:
    courses, events = count(engine, "SELECT count(*) FROM courses"), count(engine, "SELECT count(*) FROM outbox")
    course = _create(people["owner"], description="About things", max_students=30, category="science",
                     level="beginner")
    assert course["status"] == "draft" and course["processing_status"] == "not_started"
    assert course["instructor_id"] == people["owner"][0] and course["published_at"] is None
    assert course["modules_count"] == 0 and course["enrolled_count"] == 0 and course["max_students"] == 30
    assert count(engine, "SELECT count(*) FROM courses") == courses + 1
    assert count(engine, "SELECT count(*) FROM outbox") == events + 1
    [(event_type, envelope)] = _events(engine, course["id"])
    assert event_type == "course.created"
    assert envelope["payload"]["instructor_id"] == people["owner"][0]
    assert envelope["payload"]["title"] == course["title"]


def test_who_may_create_and_for_whom(handler_env: str, engine: Engine, people: dict) -> None:
    assert call("courses-create", people["student"], body={"title": "Nope"})["statusCode"] == 403
    assert call("courses-create", None, body={"title": "Nope"})["statusCode"] == 401
    on_behalf = _create(people["admin"], instructor_id=people["other"][0])
    assert on_behalf["instructor_id"] == people["other"][0]
    assert _create(people["admin"])["instructor_id"] == people["admin"][0]
    before = count(engine, "SELECT count(*) FROM courses"), count(engine, "SELECT count(*) FROM outbox")
    not_instructor = call("courses-create", people["admin"], body={"title": "X", "instructor_id": people["student"][0]})
    assert not_instructor["statusCode"] == 422
    for_someone_else = call("courses-create", people["owner"], body={"title": "X", "instructor_id": people["other"][0]})
    assert for_someone_else["statusCode"] == 403
    assert (count(engine, "SELECT count(*) FROM courses"), count(engine, "SELECT count(*) FROM outbox")) == before


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("{not json", 400),
        ("", 422),
        ("[]", 422),
        ('{"title": ""}', 422),
        ('{"title": "   "}', 422),
        ('{"title": "' + "t" * 256 + '"}', 422),
        ('{"title": "ok", "max_students": 0}', 422),
        ('{"title": "ok", "max_students": 99999999999999999999999}', 422),
        ('{"title": "ok", "level": "expert"}', 422),
        ('{"title": "ok", "instructor_id": "not-a-uuid"}', 422),
        ('{"title": 5}', 422),
        ('{"title": "ok", "category": "' + "c" * 101 + '"}', 422),
    ],
)
def test_bad_course_bodies_are_rejected_and_write_nothing(handler_env: str, engine: Engine, people: dict, raw: str,
                                                          status: int) -> None:
    before = count(engine, "SELECT count(*) FROM courses"), count(engine, "SELECT count(*) FROM outbox")
    response = call("courses-create", people["owner"], raw_body=raw)
    assert response["statusCode"] == status, response["body"]
    assert "Traceback" not in response["body"]
    assert (count(engine, "SELECT count(*) FROM courses"), count(engine, "SELECT count(*) FROM outbox")) == before


# --- read, visibility, listing -----------------------------------------------------------------------------


def test_drafts_are_visible_to_staff_only(handler_env: str, engine: Engine, people: dict) -> None:
    draft = _create(people["owner"])
    for who, expected in (("owner", 200), ("admin", 200), ("other", 404), ("student", 404)):
        response = call("courses-get", people[who], path_params={"course_id": draft["id"]})
        assert response["statusCode"] == expected, who
    unknown = call("courses-get", people["admin"], path_params={"course_id": str(uuid.uuid4())})
    assert unknown["statusCode"] == 404
    assert call("courses-get", people["admin"], path_params={"course_id": "nope"})["statusCode"] == 422


def test_get_course_counts_modules_and_active_enrollments(handler_env: str, engine: Engine, people: dict) -> None:
    course = _published(engine, people["owner"])
    _module_of(people["owner"], course["id"])
    _enroll(engine, people["student"], course["id"])
    _enroll(engine, people["other"], course["id"], status="dropped")
    got = body_of(call("courses-get", people["student"], path_params={"course_id": course["id"]}))
    assert got["modules_count"] == 2 and got["enrolled_count"] == 1 and got["status"] == "published"


def test_list_courses_filters_search_pages_and_status(handler_env: str, engine: Engine, people: dict) -> None:
    category = "cat-" + uuid.uuid4().hex[:8]
    first = _published(engine, people["owner"], category=category, level="beginner",
                       description="Photosynthesis for everyone")
    second = _published(engine, people["other"], category=category, level="advanced")
    draft = _create(people["owner"], category=category)

    def page(who: str, **query: str) -> dict[str, Any]:
        response = call("courses-list", people[who], query={"category": category, **query})
        assert response["statusCode"] == 200, response["body"]
        return body_of(response)

    listed = page("student")
    assert [c["id"] for c in listed["items"]] == [second["id"], first["id"]]  # newest first, published only
    assert listed["total"] == 2 and listed["limit"] == 20 and listed["offset"] == 0
    assert [c["id"] for c in page("student", level="advanced")["items"]] == [second["id"]]
    assert [c["id"] for c in page("student", instructor_id=people["owner"][0])["items"]] == [first["id"]]
    assert [c["id"] for c in page("student", q="photosynthesis")["items"]] == [first["id"]]
    assert page("student", q="!!! ) ( & |")["total"] == 0  # any text is a valid search
    one = page("student", limit="1", offset="1")
    assert [c["id"] for c in one["items"]] == [first["id"]] and one["total"] == 2
    assert [c["id"] for c in page("owner", status="draft")["items"]] == [draft["id"]]
    assert page("other", status="draft")["total"] == 0 and page("student", status="draft")["total"] == 0
    assert [c["id"] for c in page("admin", status="draft")["items"]] == [draft["id"]]
    for bad in ({"limit": "0"}, {"limit": "101"}, {"offset": "-1"}, {"status": "deleted"}, {"level": "x"}):
        assert call("courses-list", people["student"], query=bad)["statusCode"] == 422, bad


# --- update ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["courses-put", "courses-patch"])
def test_partial_updates_by_staff(handler_env: str, engine: Engine, people: dict, name: str) -> None:
    course = _create(people["owner"], description="keep me", category="old")
    response = call(name, people["owner"], path_params={"course_id": course["id"]},
                    body={"title": "Renamed", "category": None, "level": "intermediate"})
    assert response["statusCode"] == 200, response["body"]
    updated = body_of(response)
    assert updated["title"] == "Renamed" and updated["description"] == "keep me" and updated["category"] is None
    assert updated["level"] == "intermediate"
    admin = call(name, people["admin"], path_params={"course_id": course["id"]}, body={"max_students": 5})
    assert admin["statusCode"] == 200 and body_of(admin)["max_students"] == 5
    for bad in ({"status": "published"}, {"title": None}, {"title": ""}, {"max_students": 0}, {"instructor_id": "x"}):
        rejected = call(name, people["owner"], path_params={"course_id": course["id"]}, body=bad)
        assert rejected["statusCode"] == 422, bad
    hidden = call(name, people["other"], path_params={"course_id": course["id"]}, body={"title": "X"})
    assert hidden["statusCode"] == 404
    unchanged = body_of(call("courses-get", people["owner"], path_params={"course_id": course["id"]}))
    assert unchanged["status"] == "draft" and unchanged["title"] == "Renamed"


def test_update_rules_on_a_published_course(handler_env: str, engine: Engine, people: dict) -> None:
    course = _published(engine, people["owner"], max_students=10)
    for learner in (people["student"], people["other"]):
        _enroll(engine, learner, course["id"])
    path = {"course_id": course["id"]}
    assert call("courses-patch", people["other"], path_params=path, body={"title": "X"})["statusCode"] == 403
    assert call("courses-patch", people["student"], path_params=path, body={"title": "X"})["statusCode"] == 403
    too_low = call("courses-patch", people["owner"], path_params=path, body={"max_students": 1})
    assert too_low["statusCode"] == 409
    assert call("courses-patch", people["owner"], path_params=path, body={"max_students": 2})["statusCode"] == 200
    assert call("courses-patch", people["owner"], path_params=path, body={"max_students": None})["statusCode"] == 200


# --- lifecycle ---------------------------------------------------------------------------------------------


def test_publish_lists_every_problem_and_changes_nothing(handler_env: str, engine: Engine, people: dict) -> None:
    course = _create(people["owner"])
    path = {"course_id": course["id"]}
    empty = call("courses-publish", people["owner"], path_params=path)
    assert empty["statusCode"] == 422 and len(body_of(empty)["detail"]) == 1
    first = _module_of(people["owner"], course["id"], title="Intro")
    _module_of(people["owner"], course["id"], title="Empty")
    _asset(engine, first["id"], "article", status="upload_pending")
    events = count(engine, "SELECT count(*) FROM outbox")
    response = call("courses-publish", people["owner"], path_params=path)
    assert response["statusCode"] == 422
    messages = [entry["msg"] for entry in body_of(response)["detail"]]
    assert len(messages) == 2 and any("Empty" in m for m in messages) and any("not ready" in m for m in messages)
    assert count(engine, "SELECT count(*) FROM outbox") == events
    assert body_of(call("courses-get", people["owner"], path_params=path))["status"] == "draft"


def test_publish_emits_course_published_once(handler_env: str, engine: Engine, people: dict) -> None:
    course = _create(people["owner"], description="Described")
    path = {"course_id": course["id"]}
    module = _module_of(people["owner"], course["id"])
    video = _asset(engine, module["id"], "video")
    article = _asset(engine, module["id"], "article", status="ready")
    assert call("courses-publish", people["other"], path_params=path)["statusCode"] == 404
    response = call("courses-publish", people["owner"], path_params=path)
    assert response["statusCode"] == 200, response["body"]
    published = body_of(response)
    assert published["status"] == "published" and published["processing_status"] == "processing"
    assert published["published_at"] is not None
    again = call("courses-publish", people["admin"], path_params=path)
    assert again["statusCode"] == 200 and body_of(again)["published_at"] == published["published_at"]
    kinds = [e[0] for e in _events(engine, course["id"])]
    assert kinds == ["course.created", "course.published"]
    payload = _events(engine, course["id"])[1][1]["payload"]
    assert payload["description"] == "Described" and payload["instructor_id"] == people["owner"][0]
    [mod] = payload["modules"]
    assets = {a["asset_id"]: a for a in mod["assets"]}
    assert assets[video]["content_key"] is None and assets[video]["source_url"]
    assert assets[article]["content_key"] == (f"courses/{course['id']}/modules/{module['id']}/assets/{article}"
                                              "/content.json")
    assert call("courses-publish", people["student"], path_params=path)["statusCode"] == 403


def test_course_published_carries_prerequisite_ids_and_asset_descriptions(handler_env: str, engine: Engine,
                                                                           people: dict) -> None:
    first, second = _published(engine, people["owner"]), _published(engine, people["other"])
    course = _create(people["owner"])
    path = {"course_id": course["id"]}
    for prerequisite in (first, second):
        linked = call("courses-add-prerequisite", people["owner"],
                      path_params={**path, "prerequisite_id": prerequisite["id"]})
        assert linked["statusCode"] == 204, linked["body"]
    module = _module_of(people["owner"], course["id"])
    described = _asset(engine, module["id"], "video", description="Watch before the quiz")
    bare = _asset(engine, module["id"], "link")
    response = call("courses-publish", people["owner"], path_params=path)
    assert response["statusCode"] == 200, response["body"]
    [(_, envelope)] = [e for e in _events(engine, course["id"]) if e[0] == "course.published"]
    payload = envelope["payload"]
    assert payload["prerequisite_ids"] == [first["id"], second["id"]]  # in the order they were linked
    descriptions = {a["asset_id"]: a["description"] for a in payload["modules"][0]["assets"]}
    assert descriptions == {described: "Watch before the quiz", bare: None}
    # A course without prerequisites says so explicitly (an empty list, not a missing field).
    alone = _published(engine, people["owner"])
    [(_, lone)] = [e for e in _events(engine, alone["id"]) if e[0] == "course.published"]
    assert lone["payload"]["prerequisite_ids"] == []


def test_archive_then_publish_is_409_and_hides_the_course(handler_env: str, engine: Engine, people: dict) -> None:
    course = _published(engine, people["owner"])
    path = {"course_id": course["id"]}
    assert call("courses-archive", people["student"], path_params=path)["statusCode"] == 403
    archived = call("courses-archive", people["owner"], path_params=path)
    assert archived["statusCode"] == 200 and body_of(archived)["status"] == "archived"
    assert call("courses-archive", people["owner"], path_params=path)["statusCode"] == 200
    assert [e[0] for e in _events(engine, course["id"])].count("course.archived") == 1
    assert call("courses-publish", people["owner"], path_params=path)["statusCode"] == 409
    assert call("courses-get", people["student"], path_params=path)["statusCode"] == 404
    draft = _create(people["owner"])
    assert body_of(call("courses-archive", people["admin"], path_params={"course_id": draft["id"]}))["status"] == \
        "archived"


def test_delete_only_never_enrolled_courses(handler_env: str, engine: Engine, people: dict) -> None:
    course = _create(people["owner"])
    module = _module_of(people["owner"], course["id"])
    _asset(engine, module["id"])
    assert call("courses-delete", people["other"], path_params={"course_id": course["id"]})["statusCode"] == 404
    deleted = call("courses-delete", people["owner"], path_params={"course_id": course["id"]})
    assert deleted["statusCode"] == 204 and not deleted["body"]
    assert count(engine, "SELECT count(*) FROM modules WHERE id = :m", m=module["id"]) == 0
    assert call("courses-get", people["admin"], path_params={"course_id": course["id"]})["statusCode"] == 404
    enrolled = _published(engine, people["owner"])
    _enroll(engine, people["student"], enrolled["id"], status="dropped")
    refused = call("courses-delete", people["admin"], path_params={"course_id": enrolled["id"]})
    assert refused["statusCode"] == 409 and "archive" in body_of(refused)["detail"]


# --- prerequisites -----------------------------------------------------------------------------------------


def test_prerequisites_form_a_dag(handler_env: str, engine: Engine, people: dict) -> None:
    a, b, c = (_published(engine, people["owner"]) for _ in range(3))

    def link(name: str, course: dict, prerequisite: str, who: str = "owner") -> int:
        response = call(name, people[who], path_params={"course_id": course["id"], "prerequisite_id": prerequisite})
        return int(response["statusCode"])

    assert link("courses-add-prerequisite", a, b["id"]) == 204
    assert link("courses-add-prerequisite", a, b["id"]) == 204  # idempotent
    assert link("courses-add-prerequisite", b, c["id"]) == 204
    assert link("courses-add-prerequisite", c, a["id"]) == 409  # c → a → b → c
    assert link("courses-add-prerequisite", a, a["id"]) == 400
    assert link("courses-add-prerequisite", a, str(uuid.uuid4())) == 404
    assert link("courses-add-prerequisite", a, c["id"], who="other") == 403
    foreign_draft = _create(people["other"])
    assert link("courses-add-prerequisite", a, foreign_draft["id"]) == 404
    assert count(engine, "SELECT count(*) FROM course_prerequisites WHERE course_id = ANY(:ids)",
                 ids=[uuid.UUID(x["id"]) for x in (a, b, c)]) == 2
    listed = call("courses-list-prerequisites", people["student"], path_params={"course_id": a["id"]})
    assert listed["statusCode"] == 200 and [x["id"] for x in body_of(listed)["items"]] == [b["id"]]
    assert link("courses-remove-prerequisite", a, b["id"]) == 204
    assert link("courses-remove-prerequisite", a, b["id"]) == 204
    assert body_of(call("courses-list-prerequisites", people["student"],
                        path_params={"course_id": a["id"]}))["total"] == 0
    assert link("courses-add-prerequisite", c, a["id"]) == 204  # no longer a cycle


def test_add_prerequisite_takes_the_graph_lock_before_the_course_lock(handler_env: str, engine: Engine,
                                                                      people: dict) -> None:
    # Guards the A→B / B→C deadlock: linking A→B must not hold course A while it waits for the graph lock, since
    # a concurrent B→C link holds the graph lock and then needs A's row (key-share, via the foreign key).
    a, b = (_published(engine, people["owner"]) for _ in range(2))
    with ThreadPoolExecutor(1) as pool, engine.begin() as side:
        side.execute(select(func.pg_advisory_xact_lock(PREREQUISITE_GRAPH_LOCK)))
        linking = pool.submit(call, "courses-add-prerequisite", people["owner"],
                              path_params={"course_id": a["id"], "prerequisite_id": b["id"]})
        # Once the handler waits for the graph lock, whatever it locks first is held; a fixed sleep could look too
        # early on a busy machine.
        deadline = time.monotonic() + 30
        while not count(engine, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"):
            assert time.monotonic() < deadline and not linking.done(), "the handler never waited for the graph lock"
            time.sleep(0.1)
        assert not linking.done()
        # NOWAIT: if the handler already holds A, this raises at once instead of blocking (and rolls back `side`).
        side.execute(text("SELECT id FROM courses WHERE id = :id FOR UPDATE NOWAIT"), {"id": a["id"]})
    assert linking.result()["statusCode"] == 204
    assert count(engine, "SELECT count(*) FROM course_prerequisites WHERE course_id = :a AND prerequisite_id = :b",
                 a=a["id"], b=b["id"]) == 1


# --- modules -----------------------------------------------------------------------------------------------


def test_modules_are_appended_ordered_and_visible_like_their_course(handler_env: str, engine: Engine,
                                                                    people: dict) -> None:
    course = _create(people["owner"])
    first = _module_of(people["owner"], course["id"], title="One")
    second = _module_of(people["admin"], course["id"], title="Two")
    front = _module_of(people["owner"], course["id"], title="Zero", order_index=0)
    assert (first["order_index"], second["order_index"]) == (0, 1)
    listed = call("modules-list-by-course", people["owner"], path_params={"course_id": course["id"]})
    assert [m["title"] for m in body_of(listed)["items"]] == ["One", "Zero", "Two"]
    assert body_of(listed)["total"] == 3
    for who, expected in (("owner", 200), ("admin", 200), ("student", 404), ("other", 404)):
        assert call("modules-get", people[who], path_params={"module_id": front["id"]})["statusCode"] == expected
        assert call("modules-list-by-course", people[who],
                    path_params={"course_id": course["id"]})["statusCode"] == expected
    before = count(engine, "SELECT count(*) FROM modules")
    for who, body, expected in (
        ("student", {"course_id": course["id"], "title": "X"}, 404),
        ("owner", {"course_id": str(uuid.uuid4()), "title": "X"}, 404),
        ("owner", {"course_id": course["id"], "title": ""}, 422),
        ("owner", {"course_id": course["id"], "title": "X", "order_index": -1}, 422),
        ("owner", {"title": "X"}, 422),
    ):
        assert call("modules-create", people[who], body=body)["statusCode"] == expected, body
    assert count(engine, "SELECT count(*) FROM modules") == before
    assert call("modules-get", people["owner"], path_params={"module_id": str(uuid.uuid4())})["statusCode"] == 404


@pytest.mark.parametrize("name", ["modules-put", "modules-patch"])
def test_module_updates(handler_env: str, engine: Engine, people: dict, name: str) -> None:
    course = _published(engine, people["owner"])
    module = _module_of(people["owner"], course["id"], description="keep")
    path = {"module_id": module["id"]}
    updated = call(name, people["owner"], path_params=path, body={"title": "New", "order_index": 7})
    assert updated["statusCode"] == 200
    assert body_of(updated)["title"] == "New" and body_of(updated)["order_index"] == 7
    assert body_of(updated)["description"] == "keep"
    assert call(name, people["student"], path_params=path, body={"title": "X"})["statusCode"] == 403
    assert call(name, people["owner"], path_params=path, body={"title": None})["statusCode"] == 422
    assert call(name, people["owner"], path_params=path, body={"course_id": course["id"]})["statusCode"] == 422
    assert call(name, people["owner"], path_params={"module_id": str(uuid.uuid4())},
                body={"title": "X"})["statusCode"] == 404


def test_module_delete_cascades_and_is_refused_on_an_enrolled_published_course(handler_env: str, engine: Engine,
                                                                               people: dict) -> None:
    draft = _create(people["owner"])
    module = _module_of(people["owner"], draft["id"])
    asset = _asset(engine, module["id"])
    assert call("modules-delete", people["student"], path_params={"module_id": module["id"]})["statusCode"] == 404
    assert call("modules-delete", people["owner"], path_params={"module_id": module["id"]})["statusCode"] == 204
    assert count(engine, "SELECT count(*) FROM assets WHERE id = :a", a=asset) == 0
    assert call("modules-delete", people["owner"], path_params={"module_id": module["id"]})["statusCode"] == 404
    course = _published(engine, people["owner"])
    spare = _module_of(people["owner"], course["id"])
    assert call("modules-delete", people["other"], path_params={"module_id": spare["id"]})["statusCode"] == 403
    _enroll(engine, people["student"], course["id"])
    refused = call("modules-delete", people["admin"], path_params={"module_id": spare["id"]})
    assert refused["statusCode"] == 409
    assert count(engine, "SELECT count(*) FROM modules WHERE id = :m", m=spare["id"]) == 1


def test_outbox_envelopes_are_valid_json(handler_env: str, engine: Engine, people: dict) -> None:
    course = _create(people["owner"])
    [(_, envelope)] = _events(engine, course["id"])
    assert json.loads(json.dumps(envelope))["aggregate_type"] == "course"
