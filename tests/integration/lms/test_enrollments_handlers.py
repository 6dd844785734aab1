"""Enrollment, progress and certificate handlers (API Gateway REST events) and services, against real PostgreSQL
and the AWS emulator, including the concurrency rules (capacity, single completion and certificate)."""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from smartcourse.catalogue import Grant
from smartcourse.db.unit_of_work import unit_of_work_factory
from smartcourse.errors import Conflict
from smartcourse_lms.auth.domain import Principal, Role
from smartcourse_lms.auth.repository import insert_user
from smartcourse_lms.catalogue import API_FUNCTIONS as LMS_FUNCTIONS
from smartcourse_lms.enrollments.service import CertificateStore, EnrollmentService
from sqlalchemy import Engine, create_engine, text

from stacks.services import function
from tests.support import auth as fixtures
from tests.support.apigw import body_of, rest_event
from tests.support.auth import count

lms_url, engine, handler_env = fixtures.lms_url, fixtures.engine, fixtures.handler_env

pytestmark = pytest.mark.integration

COUNTS = ("SELECT count(*) FROM enrollments", "SELECT count(*) FROM asset_progress",
          "SELECT count(*) FROM certificates", "SELECT count(*) FROM outbox")


@pytest.fixture
def env(handler_env: str, moto: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import boto3
    from smartcourse import storage
    from smartcourse.settings import get_settings
    from smartcourse_lms.courses import service as course_service
    from smartcourse_lms.enrollments import service as enrollment_service

    bucket = f"certs-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    monkeypatch.setenv("CERTIFICATE_BUCKET", bucket)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://api.smartcourse.test")
    get_settings.cache_clear()
    storage.reset_client()
    course_service._service = None
    enrollment_service._service = None
    yield bucket
    get_settings.cache_clear()
    storage.reset_client()
    course_service._service = None
    enrollment_service._service = None


def call(name: str, who: tuple[str, str] | None, **kwargs: Any) -> dict[str, Any]:
    fn = function(f"lms-{name}")
    return importlib.import_module(fn.module).handler(rest_event(fn, principal=who, **kwargs), None)


def ok(response: dict[str, Any], status: int = 200) -> Any:
    assert response["statusCode"] == status, response["body"]
    return body_of(response)


def _user(engine: Engine, *roles: Role, name: str = "Enrollment Tester") -> tuple[str, str]:
    user_id = uuid.uuid4()
    with engine.begin() as conn:
        assert insert_user(conn, user_id=user_id, email=f"e-{user_id.hex[:12]}@it.smartcourse.local",
                           password_hash="x", full_name=name, roles=list(roles), now=datetime.now(UTC))
    return str(user_id), ",".join(r.value for r in roles)


def _principal(user: tuple[str, str]) -> Principal:
    return Principal(uuid.UUID(user[0]), frozenset(user[1].split(",")))


@pytest.fixture(scope="module")
def people(engine: Engine) -> dict[str, tuple[str, str]]:
    return {"owner": _user(engine, Role.INSTRUCTOR), "other": _user(engine, Role.INSTRUCTOR),
            "student": _user(engine, Role.STUDENT, name="Ada <Lovelace>"), "peer": _user(engine, Role.STUDENT),
            "admin": _user(engine, Role.ADMIN)}


def _asset(engine: Engine, module_id: str) -> str:
    asset_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO assets (id, module_id, title, asset_type, status, source_url) "
                          "VALUES (:id, :m, 'Video', 'video', 'ready', 'https://video.example.test/1')"),
                     {"id": asset_id, "m": module_id})
    return asset_id


def _course(engine: Engine, owner: tuple[str, str], *, assets_per_module: tuple[int, ...] = (1,),
            publish: bool = True, **body: Any) -> tuple[dict[str, Any], list[str]]:
    course = ok(call("courses-create", owner, body={"title": "Course " + uuid.uuid4().hex[:6], **body}), 201)
    asset_ids: list[str] = []
    for i, n in enumerate(assets_per_module):
        module = ok(call("modules-create", owner, body={"course_id": course["id"], "title": f"Module {i}"}), 201)
        asset_ids += [_asset(engine, module["id"]) for _ in range(n)]
    if publish:
        course = ok(call("courses-publish", owner, path_params={"course_id": course["id"]}))
    return course, asset_ids


def _enroll(who: tuple[str, str], course_id: str, status: int = 201, **body: Any) -> Any:
    return ok(call("enrollments-create", who, body={"course_id": course_id, **body}), status)


def _progress(who: tuple[str, str], asset_id: str, status: int = 200, **body: Any) -> Any:
    return ok(call("progress-record", who, path_params={"asset_id": asset_id}, body=body), status)


def _events(engine: Engine, aggregate_id: str) -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_type, envelope FROM outbox WHERE aggregate_id = :a ORDER BY id"),
                            {"a": aggregate_id}).all()
    return [(r[0], r[1]) for r in rows]


def _counts(engine: Engine) -> list[int]:
    return [count(engine, sql) for sql in COUNTS]


def test_every_enrollment_progress_certificate_function_has_its_module(env: str) -> None:
    fns = [fn for fn in LMS_FUNCTIONS if fn.module.startswith(("lms.enrollments.", "lms.progress.",
                                                               "lms.certificates."))]
    assert len(fns) == 14
    for fn in fns:
        module = importlib.import_module(fn.module)
        assert fn in (getattr(module, "FUNCTIONS", None) or (module.FUNCTION,))
    assert not function("lms-certificates-verify").route.authorized
    for name in ("lms-progress-record", "lms-certificates-get", "lms-certificates-me"):
        assert Grant.CERTIFICATE_BUCKET in function(name).grants


# --- enroll ------------------------------------------------------------------------------------------------


def test_enroll_creates_once_and_emits_enrollment_created(env: str, engine: Engine, people: dict) -> None:
    course, _ = _course(engine, people["owner"])
    before = _counts(engine)
    created = _enroll(people["student"], course["id"])
    assert created["status"] == "active" and created["user_id"] == people["student"][0]
    assert created["source"] == "self" and created["completed_at"] is None
    again = _enroll(people["student"], course["id"], status=200)
    assert again["id"] == created["id"]
    after = _counts(engine)
    assert after[0] == before[0] + 1 and after[3] == before[3] + 1
    [(kind, envelope)] = _events(engine, created["id"])
    assert kind == "enrollment.created"
    assert envelope["payload"]["course_id"] == course["id"] and envelope["payload"]["source"] == "self"


def test_only_published_courses_take_enrollments(env: str, engine: Engine, people: dict) -> None:
    draft, _ = _course(engine, people["owner"], publish=False)
    archived, _ = _course(engine, people["owner"])
    ok(call("courses-archive", people["owner"], path_params={"course_id": archived["id"]}))
    before = _counts(engine)
    assert call("enrollments-create", people["student"], body={"course_id": draft["id"]})["statusCode"] == 409
    assert call("enrollments-create", people["student"], body={"course_id": archived["id"]})["statusCode"] == 409
    unknown = call("enrollments-create", people["student"], body={"course_id": str(uuid.uuid4())})
    assert unknown["statusCode"] == 404
    assert _counts(engine) == before


def test_prerequisites_must_be_completed(env: str, engine: Engine, people: dict) -> None:
    first, [asset] = _course(engine, people["owner"], title="Basics")
    second, _ = _course(engine, people["owner"])
    assert call("courses-add-prerequisite", people["owner"],
                path_params={"course_id": second["id"], "prerequisite_id": first["id"]})["statusCode"] == 204
    before = _counts(engine)
    refused = call("enrollments-create", people["peer"], body={"course_id": second["id"]})
    assert refused["statusCode"] == 422
    body = body_of(refused)
    assert body["error"] == "prerequisites_missing"
    assert body["missing_prerequisites"] == [{"id": first["id"], "title": "Basics"}]
    assert "Basics" in body["message"]
    assert _counts(engine) == before
    _enroll(people["peer"], first["id"])
    _progress(people["peer"], asset, progress_percent=100)
    assert _enroll(people["peer"], second["id"])["status"] == "active"


def test_capacity_counts_active_only_and_dropped_is_reactivated(env: str, engine: Engine, people: dict) -> None:
    course, _ = _course(engine, people["owner"], max_students=1)
    first = _enroll(people["student"], course["id"])
    before = _counts(engine)
    full = call("enrollments-create", people["peer"], body={"course_id": course["id"]})
    assert full["statusCode"] == 409 and body_of(full)["detail"] == "Course is full"
    assert _counts(engine) == before
    dropped = ok(call("enrollments-patch", people["student"], path_params={"enrollment_id": first["id"]},
                      body={"status": "dropped"}))
    assert dropped["status"] == "dropped" and dropped["dropped_at"] is not None
    peer = _enroll(people["peer"], course["id"])
    # The seat is taken again: the dropped learner may not come back now, neither by POST nor by PATCH.
    assert call("enrollments-create", people["student"], body={"course_id": course["id"]})["statusCode"] == 409
    assert call("enrollments-put", people["student"], path_params={"enrollment_id": first["id"]},
                body={"status": "active"})["statusCode"] == 409
    ok(call("enrollments-delete", people["admin"], path_params={"enrollment_id": peer["id"]}), 204)
    back = _enroll(people["student"], course["id"], status=200)
    assert back["id"] == first["id"] and back["status"] == "active" and back["dropped_at"] is None
    kinds = [k for k, _ in _events(engine, first["id"])]
    assert kinds == ["enrollment.created", "enrollment.dropped", "enrollment.created"]


def test_staff_may_enroll_others_students_may_not(env: str, engine: Engine, people: dict) -> None:
    course, _ = _course(engine, people["owner"])
    learner = _user(engine, Role.STUDENT)
    before = _counts(engine)
    for who in ("student", "other"):
        response = call("enrollments-create", people[who], body={"course_id": course["id"], "user_id": learner[0]})
        assert response["statusCode"] == 403, who
    unknown = call("enrollments-create", people["owner"], body={"course_id": course["id"],
                                                                "user_id": str(uuid.uuid4())})
    assert unknown["statusCode"] == 422
    assert _counts(engine) == before
    staffed = _enroll(people["owner"], course["id"], user_id=learner[0])
    assert staffed["user_id"] == learner[0] and staffed["source"] == "staff"
    by_admin = _enroll(people["admin"], course["id"], user_id=_user(engine, Role.STUDENT)[0], source="import")
    assert by_admin["source"] == "import"


@pytest.mark.parametrize(
    ("raw", "status"),
    [("{not json", 400), ("", 422), ("[]", 422), ('{"course_id": "nope"}', 422), ('{"course_id": 5}', 422),
     (f'{{"course_id": "{uuid.uuid4()}", "user_id": "x"}}', 422),
     (f'{{"course_id": "{uuid.uuid4()}", "source": ""}}', 422)],
)
def test_bad_enroll_bodies_write_nothing(env: str, engine: Engine, people: dict, raw: str, status: int) -> None:
    before = _counts(engine)
    response = call("enrollments-create", people["student"], raw_body=raw)
    assert response["statusCode"] == status, response["body"]
    assert "Traceback" not in response["body"]
    assert _counts(engine) == before


# --- reading and changing enrollments ----------------------------------------------------------------------


def test_reading_enrollments_by_role(env: str, engine: Engine, people: dict) -> None:
    course, [asset, _] = _course(engine, people["owner"], assets_per_module=(2,))
    learner = _user(engine, Role.STUDENT)
    mine = _enroll(learner, course["id"])
    _progress(learner, asset, is_completed=True)
    listed = ok(call("enrollments-me", learner))
    assert listed["total"] == 1 and listed["items"][0]["course_title"] == course["title"]
    assert listed["items"][0]["progress_percent"] == 50.0
    path = {"enrollment_id": mine["id"]}
    for who, expected in (("owner", 200), ("admin", 200), ("other", 404), ("peer", 404)):
        assert call("enrollments-get", people[who], path_params=path)["statusCode"] == expected, who
    assert ok(call("enrollments-get", learner, path_params=path))["progress_percent"] == 50.0
    assert call("enrollments-get", None, path_params=path)["statusCode"] == 401
    by_user = {"user_id": learner[0]}
    assert ok(call("enrollments-list-by-user", learner, path_params=by_user))["total"] == 1
    assert ok(call("enrollments-list-by-user", people["admin"], path_params=by_user))["total"] == 1
    for who in ("peer", "owner"):
        assert call("enrollments-list-by-user", people[who], path_params=by_user)["statusCode"] == 403
    by_course = {"course_id": course["id"]}
    _enroll(people["peer"], course["id"])
    page = ok(call("enrollments-list-by-course", people["owner"], path_params=by_course, query={"limit": "1"}))
    assert page["total"] == 2 and len(page["items"]) == 1 and page["items"][0]["id"] == mine["id"]
    assert ok(call("enrollments-list-by-course", people["admin"], path_params=by_course,
                   query={"status": "dropped"}))["total"] == 0
    for who in ("other", "student"):
        assert call("enrollments-list-by-course", people[who], path_params=by_course)["statusCode"] == 403
    assert call("enrollments-list-by-course", people["owner"], path_params=by_course,
                query={"status": "gone"})["statusCode"] == 422


def test_status_changes_follow_the_rules(env: str, engine: Engine, people: dict) -> None:
    course, _ = _course(engine, people["owner"])
    learner = _user(engine, Role.STUDENT)
    enrollment = _enroll(learner, course["id"])
    path = {"enrollment_id": enrollment["id"]}
    before = _counts(engine)
    assert call("enrollments-patch", learner, path_params=path, body={"status": "completed"})["statusCode"] == 403
    assert call("enrollments-patch", people["owner"], path_params=path, body={"status": "dropped"})["statusCode"] == 403
    assert call("enrollments-patch", people["peer"], path_params=path, body={"status": "dropped"})["statusCode"] == 404
    assert call("enrollments-patch", learner, path_params=path, body={"status": "gone"})["statusCode"] == 422
    assert call("enrollments-patch", learner, path_params=path, body={"user_id": "x"})["statusCode"] == 422
    assert _counts(engine) == before
    done = ok(call("enrollments-put", people["admin"], path_params=path, body={"status": "completed"}))
    assert done["status"] == "completed" and done["completed_at"] is not None
    assert call("enrollments-patch", learner, path_params=path, body={"status": "dropped"})["statusCode"] == 403
    assert [k for k, _ in _events(engine, enrollment["id"])] == ["enrollment.created", "enrollment.completed"]


def test_delete_is_admin_only(env: str, engine: Engine, people: dict) -> None:
    course, _ = _course(engine, people["owner"])
    learner = _user(engine, Role.STUDENT)
    enrollment = _enroll(learner, course["id"])
    path = {"enrollment_id": enrollment["id"]}
    for who in (learner, people["owner"]):
        assert call("enrollments-delete", who, path_params=path)["statusCode"] == 403
    ok(call("enrollments-delete", people["admin"], path_params=path), 204)
    assert call("enrollments-delete", people["admin"], path_params=path)["statusCode"] == 404
    assert count(engine, "SELECT count(*) FROM enrollments WHERE id = :i", i=enrollment["id"]) == 0


# --- progress, completion, certificates --------------------------------------------------------------------


def test_progress_to_completion_issues_one_certificate(env: str, engine: Engine, people: dict) -> None:
    course, assets = _course(engine, people["owner"], assets_per_module=(2, 1), title="Algebra & <Logic>")
    learner = _user(engine, Role.STUDENT, name="Grace <Hopper>")
    enrollment = _enroll(learner, course["id"])
    first = _progress(learner, assets[0], progress_percent=40, time_spent_seconds=30)
    assert first["asset_progress"]["progress_percent"] == 40.0 and not first["asset_progress"]["is_completed"]
    lower = _progress(learner, assets[0], percent_complete=10, time_spent_seconds=15)
    assert lower["asset_progress"]["progress_percent"] == 40.0  # never decreases
    assert lower["asset_progress"]["time_spent_seconds"] == 45  # time accumulates
    done = _progress(learner, assets[0], enrollment_id=enrollment["id"], is_completed=True)
    assert done["course_progress"] == {"percent_complete": 33.33, "completed_assets": 1, "total_assets": 3}
    _progress(learner, assets[1], progress_percent=100)
    last = _progress(learner, assets[2], percent_complete=100, time_spent_seconds=5)
    assert last["course_progress"]["percent_complete"] == 100.0
    assert last["enrollment_status"] == "completed" and last["completed_at"] is not None
    certificate_id = last["certificate_id"]
    assert certificate_id
    again = _progress(learner, assets[2], progress_percent=100)
    assert again["certificate_id"] is None and again["enrollment_status"] == "completed"
    assert count(engine, "SELECT count(*) FROM certificates WHERE enrollment_id = :e", e=enrollment["id"]) == 1
    kinds = [k for k, _ in _events(engine, enrollment["id"])]
    assert kinds == ["enrollment.created", *["progress.updated"] * 5, "enrollment.completed", "certificate.issued",
                     "progress.updated"]

    course_progress = ok(call("progress-get-course", learner,
                              path_params={"course_id": course["id"], "enrollment_id": enrollment["id"]}))
    assert course_progress["percent_complete"] == 100.0 and course_progress["total_assets"] == 3
    assert course_progress["time_spent_seconds"] == 50
    assert [m["percent_complete"] for m in course_progress["modules"]] == [100.0, 100.0]
    assert [a["asset_id"] for a in course_progress["assets"]] == assets

    cert = ok(call("certificates-get", learner, path_params={"certificate_id": certificate_id}))
    assert re.fullmatch(r"SC-[A-Z2-7]{12}", cert["serial_no"])
    assert cert["learner_name"] == "Grace <Hopper>" and cert["course_title"] == "Algebra & <Logic>"
    html = httpx.get(cert["certificate_url"]).text
    assert "Grace &lt;Hopper&gt;" in html and cert["serial_no"] in html
    assert f"https://api.smartcourse.test/api/v1/certificates/verify/{cert['serial_no']}" in html
    with engine.connect() as conn:
        key = conn.execute(text("SELECT document_key FROM certificates WHERE id = :i"), {"i": certificate_id}).scalar()
    assert key == f"certificates/{certificate_id}.html"
    verified = ok(call("certificates-verify", None, path_params={"serial_no": cert["serial_no"]}))
    assert verified["valid"] is True and verified["learner_name"] == "Grace <Hopper>"
    assert call("certificates-verify", None, path_params={"serial_no": "SC-AAAAAAAAAAAA"})["statusCode"] == 404
    assert call("certificates-verify", None, path_params={"serial_no": "nonsense"})["statusCode"] == 404
    assert [c["id"] for c in ok(call("certificates-me", learner))["items"]] == [certificate_id]
    for who, expected in (("owner", 200), ("admin", 200), ("other", 404), ("peer", 404)):
        assert call("certificates-get", people[who], path_params={"certificate_id": certificate_id}
                    )["statusCode"] == expected, who
    # Completion is never revoked, even when an asset is added later.
    module = ok(call("modules-create", people["owner"], body={"course_id": course["id"], "title": "Bonus"}), 201)
    _asset(engine, module["id"])
    after = ok(call("enrollments-get", learner, path_params={"enrollment_id": enrollment["id"]}))
    assert after["status"] == "completed"


def test_progress_access_and_bad_input(env: str, engine: Engine, people: dict) -> None:
    course, [asset] = _course(engine, people["owner"])
    elsewhere, [foreign] = _course(engine, people["owner"])
    learner = _user(engine, Role.STUDENT)
    enrollment = _enroll(learner, course["id"])
    before = _counts(engine)
    path = {"asset_id": asset}
    assert _progress(people["peer"], asset, 403, progress_percent=10)  # not enrolled
    assert _progress(people["peer"], asset, 403, enrollment_id=enrollment["id"], progress_percent=10)
    assert _progress(people["owner"], asset, 403, enrollment_id=enrollment["id"], progress_percent=10)
    assert _progress(learner, foreign, 422, enrollment_id=enrollment["id"], progress_percent=10)
    assert _progress(learner, str(uuid.uuid4()), 404, progress_percent=10)
    assert _progress(learner, asset, 404, enrollment_id=str(uuid.uuid4()), progress_percent=10)
    for raw in ('{"progress_percent": 101}', '{"progress_percent": -1}', '{"percent_complete": 150}',
                '{"time_spent_seconds": -5}', '{"progress_percent": "lots"}', "{not json", "[]"):
        response = call("progress-record", learner, path_params=path, raw_body=raw)
        assert response["statusCode"] in (400, 422), raw
        assert "Traceback" not in response["body"]
    assert call("progress-record", None, path_params=path, body={"progress_percent": 5})["statusCode"] == 401
    assert _counts(engine) == before
    by_admin = _progress(people["admin"], asset, enrollment_id=enrollment["id"], progress_percent=20)
    assert by_admin["asset_progress"]["progress_percent"] == 20.0
    read = {"asset_id": asset, "enrollment_id": enrollment["id"]}
    for who, expected in ((learner, 200), (people["owner"], 200), (people["admin"], 200), (people["other"], 404),
                          (people["peer"], 404)):
        assert call("progress-get-asset", who, path_params=read)["statusCode"] == expected
    assert call("progress-get-asset", learner, path_params={**read, "asset_id": foreign})["statusCode"] == 404
    assert call("progress-get-course", learner, path_params={"course_id": elsewhere["id"],
                                                             "enrollment_id": enrollment["id"]})["statusCode"] == 404
    ok(call("enrollments-patch", learner, path_params={"enrollment_id": enrollment["id"]}, body={"status": "dropped"}))
    assert _progress(learner, asset, 409, progress_percent=50)


# --- concurrency -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wide_engine(lms_url: str) -> Iterator[Engine]:
    from smartcourse.db.engine import normalise_url

    eng = create_engine(normalise_url(lms_url), pool_size=20, max_overflow=30, pool_timeout=60)
    yield eng
    eng.dispose()


def _service(eng: Engine, bucket: str) -> EnrollmentService:
    return EnrollmentService(unit_of_work_factory(eng), store=CertificateStore(lambda: bucket),
                             public_base_url=lambda: "https://api.smartcourse.test")


def test_capacity_holds_under_50_parallel_enrollments(env: str, engine: Engine, wide_engine: Engine,
                                                      people: dict) -> None:
    course, _ = _course(engine, people["owner"], max_students=10)
    students = [_principal(_user(engine, Role.STUDENT)) for _ in range(50)]
    service = _service(wide_engine, env)

    def enroll(student: Principal) -> str:
        try:
            service.enroll(student, {"course_id": uuid.UUID(course["id"])})
            return "ok"
        except Conflict as error:
            return error.message

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(enroll, students))
    assert outcomes.count("ok") == 10 and outcomes.count("Course is full") == 40
    assert count(engine, "SELECT count(*) FROM enrollments WHERE course_id = :c AND status = 'active'",
                 c=course["id"]) == 10
    assert count(engine, "SELECT count(*) FROM outbox WHERE event_type = 'enrollment.created' "
                         "AND envelope->'payload'->>'course_id' = :c", c=course["id"]) == 10


def test_parallel_progress_completes_once_with_one_certificate(env: str, engine: Engine, wide_engine: Engine,
                                                               people: dict) -> None:
    course, assets = _course(engine, people["owner"], assets_per_module=(3, 3))
    learner = _user(engine, Role.STUDENT)
    enrollment = _enroll(learner, course["id"])
    for asset in assets[:2]:
        _progress(learner, asset, is_completed=True)
    service = _service(wide_engine, env)
    who = _principal(learner)
    jobs = [a for a in assets[2:] for _ in range(4)]  # the last four assets, each reported four times at once

    def report(asset_id: str) -> uuid.UUID | None:
        result = service.record_progress(who, uuid.UUID(asset_id), {"progress_percent": 100,
                                                                    "time_spent_seconds": 1})
        return result.certificate.id if result.certificate else None

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        issued = [c for c in pool.map(report, jobs) if c is not None]
    assert len(issued) == 1
    assert count(engine, "SELECT count(*) FROM certificates WHERE enrollment_id = :e", e=enrollment["id"]) == 1
    assert count(engine, "SELECT count(*) FROM asset_progress WHERE enrollment_id = :e AND completed_at IS NOT NULL",
                 e=enrollment["id"]) == 6
    assert count(engine, "SELECT sum(time_spent_seconds) FROM asset_progress WHERE enrollment_id = :e",
                 e=enrollment["id"]) == 16
    state = ok(call("enrollments-get", learner, path_params={"enrollment_id": enrollment["id"]}))
    assert state["status"] == "completed" and state["progress_percent"] == 100.0
    kinds = [k for k, _ in _events(engine, enrollment["id"])]
    assert kinds.count("enrollment.completed") == 1 and kinds.count("certificate.issued") == 1
    assert kinds.index("certificate.issued") == kinds.index("enrollment.completed") + 1
    assert kinds.count("progress.updated") == 2 + len(jobs)
