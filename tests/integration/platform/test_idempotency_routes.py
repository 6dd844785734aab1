"""Every mutating route of every API honours Idempotency-Key, against real PostgreSQL and moto (DynamoDB, S3, SQS).

Each of the catalogues' 46 mutating functions gets a request that succeeds and changes something (what it
needs is seeded first: its course, asset, enrollment, user, one-time token, notification, indexed AI content or
analytics facts). It is sent twice with the same key: the second answer is the first one again (marked
replayed), and the platform (every service's database, its outbox included, the queues and the content bucket)
is exactly as the first request left it. The same key with another body is refused and changes nothing either.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from smartcourse import aws_clients, idempotency
from smartcourse.catalogue import Function, Service
from smartcourse_lms.auth.domain import Role
from smartcourse_lms.auth.repository import insert_user
from sqlalchemy import text

from stacks.constructs.idempotency_table import takes_idempotency_key
from stacks.services import ALL_FUNCTIONS, function
from tests.integration.ai.test_ai_indexing import Pipeline
from tests.support import analytics as analytics_events
from tests.support.ai import document, heading, paragraph, published_course
from tests.support.apigw import body_of, rest_event
from tests.support.auth import ISSUER, JWT_KEY
from tests.support.service_world import ServiceWorld, build, outbox_counts, reset_service_caches, serving, state

pytestmark = pytest.mark.integration

MUTATING = sorted((f for f in ALL_FUNCTIONS if takes_idempotency_key(f)), key=lambda f: (f.service, f.name))
PASSWORD = "Correct-Horse-42!"
Who = tuple[str, str]

# Mutating by method, yet writing nothing: a preview renders a template.
READ_ONLY = {"notification-preview-template"}

# A small course the AI service indexes once (search, answers and quizzes read it; they record usage).
SOURDOUGH = {"title": "Sourdough bread baking", "description": "Starters and baking.", "modules": [
    {"title": "Starter", "assets": [
        {"title": "Feeding the starter", "asset_type": "article", "document": document(
            heading("What a starter is"),
            paragraph("A sourdough starter is a living culture of wild yeast and lactic acid bacteria. "
                      "You keep the starter in a glass jar and feed it with flour and water. "
                      "The wild yeast releases carbon dioxide gas, which makes the dough rise."),
            heading("Feeding schedule"),
            paragraph("Feed the starter twice a day with equal weights of flour and water. "
                      "Discard half of the starter before every feeding to keep the jar manageable. "
                      "A healthy starter doubles in volume within six hours of a feeding."))},
    ]},
]}
ARTICLE = SOURDOUGH["modules"][0]["assets"][0]["document"]  # type: ignore[index]  # an article to upload


@dataclass
class Request:
    who: Who | None
    body: Any = None
    path_params: dict[str, str] | None = None
    query: dict[str, str] | None = None


@dataclass
class World:
    services: ServiceWorld
    admin: Who  # admin and instructor
    student: Who
    student_email: str
    pipeline: Pipeline  # the AI consumer's effects and indexer
    indexed_course: str  # an LMS course (with ``indexed_module``) whose content the AI service has indexed
    indexed_module: str

    # --- calls without a key, to seed -------------------------------------------------------------------------

    def lms(self, name: str, who: Who | None, **kwargs: Any) -> Any:
        """``name``'s answer body, as the LMS function answers (it must succeed)."""
        with serving(self.services, Service.LMS):
            response = invoke(function(name), who, **kwargs)
        assert 200 <= response["statusCode"] < 300, (name, response["body"])
        return body_of(response)

    def user(self, *roles: Role) -> Who:
        return new_user(self.services, new_email(), *roles)

    def latest_event_field(self, aggregate_id: str, event_type: str, name: str) -> str:
        with self.services.engines[Service.LMS].connect() as conn:
            envelope = conn.execute(text("SELECT envelope FROM outbox WHERE aggregate_id = :id AND event_type = :t "
                                         "ORDER BY id DESC LIMIT 1"),
                                    {"id": aggregate_id, "t": event_type}).scalar_one()
        return str(envelope["payload"][name])

    def course(self) -> str:
        return str(self.lms("lms-courses-create", self.admin, body={"title": "Idempotent course"})["id"])

    def module(self, course_id: str) -> str:
        return str(self.lms("lms-modules-create", self.admin, body={"course_id": course_id, "title": "Module"})["id"])

    def asset(self, module_id: str, asset_type: str = "video") -> str:
        body = {"module_id": module_id, "title": f"A {asset_type}", "asset_type": asset_type}
        if asset_type != "article":
            body["source_url"] = "https://video.example.test/1"
        return str(self.lms("lms-assets-create", self.admin, body=body)["id"])

    def published_lms_course(self) -> tuple[str, str]:
        """A published course (a module with a ready video) and its asset."""
        course_id = self.course()
        asset_id = self.asset(self.module(course_id))
        self.lms("lms-courses-publish", self.admin, path_params={"course_id": course_id})
        return course_id, asset_id

    def enrollment(self) -> tuple[str, str]:
        """The student's enrollment in a new published course, and the course's asset."""
        course_id, asset_id = self.published_lms_course()
        enrolled = self.lms("lms-enrollments-create", self.student, body={"course_id": course_id})
        return str(enrolled["id"]), asset_id

    def ai_course(self) -> str:
        """A course published to the AI service (its index jobs planned, not run)."""
        course = published_course(SOURDOUGH, instructor_id=uuid.UUID(self.admin[0]))
        with serving(self.services, Service.AI):
            self.pipeline.publish(course)
        self.pipeline.jobs.clear()
        return str(course.course_id)


def new_email() -> str:
    return f"idem-{uuid.uuid4().hex[:10]}@it.smartcourse.local"


def new_user(services: ServiceWorld, email: str, *roles: Role) -> Who:
    """A user in the LMS database (inserted directly: a password hash, no events)."""
    from smartcourse_lms.auth.passwords import Passwords

    user_id = uuid.uuid4()
    with services.engines[Service.LMS].begin() as conn:
        insert_user(conn, user_id=user_id, email=email, password_hash=Passwords().hash(PASSWORD),
                    full_name="Idempotency Tester", roles=list(roles), now=datetime.now(UTC))
    return str(user_id), ",".join(r.value for r in roles)


def invoke(fn: Function, who: Who | None, *, key: str | None = None, **kwargs: Any) -> dict[str, Any]:
    headers = {idempotency.HEADER: key} if key else None
    module = importlib.import_module(fn.module)
    return dict(module.handler(rest_event(fn, principal=who, headers=headers, **kwargs), None))


# --- what each route needs, and its request -------------------------------------------------------------------

Setup = Callable[[World, pytest.MonkeyPatch], Request]


def _title() -> dict[str, str]:
    return {"title": "Changed " + uuid.uuid4().hex[:6]}


def _course(world: World) -> dict[str, str]:
    return {"course_id": world.course()}


def _module(world: World) -> dict[str, str]:
    return {"module_id": world.module(world.course())}


def _asset(world: World, asset_type: str = "video") -> dict[str, str]:
    return {"asset_id": world.asset(world.module(world.course()), asset_type)}


def _enrollment(world: World) -> dict[str, str]:
    return {"enrollment_id": world.enrollment()[0]}


def _refresh_token(world: World) -> str:
    body = {"email": world.student_email, "password": PASSWORD}
    return str(world.lms("lms-auth-login", None, body=body)["refresh_token"])


def _verify_email(world: World, _: pytest.MonkeyPatch) -> Request:
    from smartcourse_lms.auth.service import get_auth_service

    user = world.lms("lms-auth-register", None, body={"email": new_email(), "password": PASSWORD})
    ref = world.latest_event_field(user["id"], "user.registered", "verification_token_ref")
    with serving(world.services, Service.LMS):
        token = get_auth_service().issue_verification_token(uuid.UUID(ref))
    return Request(None, {"token": token})


def _password_reset(world: World, _: pytest.MonkeyPatch) -> Request:
    from smartcourse_lms.auth.service import get_auth_service

    email = new_email()
    user = world.lms("lms-auth-register", None, body={"email": email, "password": PASSWORD})
    world.lms("lms-auth-password-forgot", None, body={"email": email})
    ref = world.latest_event_field(user["id"], "user.password_reset_requested", "reset_token_ref")
    with serving(world.services, Service.LMS):
        token = get_auth_service().issue_reset_token(uuid.UUID(ref))
    return Request(None, {"token": token, "new_password": "Another-Horse-43!"})


def _role_change(world: World, *roles: Role) -> Request:
    return Request(world.admin, path_params={"user_id": world.user(*roles)[0], "role": Role.INSTRUCTOR.value})


def _publishable(world: World) -> dict[str, str]:
    """A draft course with a module and a ready video (what publishing needs)."""
    course_id = world.course()
    world.asset(world.module(course_id))
    return {"course_id": course_id}


def _remove_prerequisite(world: World, _: pytest.MonkeyPatch) -> Request:
    path = {"course_id": world.course(), "prerequisite_id": world.course()}
    world.lms("lms-courses-add-prerequisite", world.admin, path_params=path)
    return Request(world.admin, path_params=path)


def _complete_upload(world: World, _: pytest.MonkeyPatch) -> Request:
    import json

    from smartcourse_lms.learning.content import content_key

    course_id = world.course()
    module_id = world.module(course_id)
    asset_id = world.asset(module_id, "article")
    world.services.s3.put_object(Bucket=world.services.bucket, Key=content_key(course_id, module_id, asset_id),
                                 Body=json.dumps(ARTICLE).encode(), ContentType="application/json")
    return Request(world.admin, path_params={"asset_id": asset_id})


def _progress(world: World, _: pytest.MonkeyPatch) -> Request:
    asset_id = world.enrollment()[1]
    return Request(world.student, {"progress_percent": 50, "time_spent_seconds": 30},
                   path_params={"asset_id": asset_id})


def _mark_read(world: World, _: pytest.MonkeyPatch) -> Request:
    from smartcourse_notification import repository

    reader = (str(uuid.uuid4()), "student")
    notification_id = uuid.uuid4()
    with world.services.engines[Service.NOTIFICATION].begin() as conn:
        repository.insert_notification(conn, id=notification_id, user_id=uuid.UUID(reader[0]),
                                       event_id=uuid.uuid4(), template="enrollment_confirmation", title="Welcome",
                                       body="You are enrolled", link=None, category="course_updates")
    return Request(reader, path_params={"notification_id": str(notification_id)})


def _search(world: World, _: pytest.MonkeyPatch) -> Request:
    return Request(world.student, {"query": "how often do I feed my starter", "course_ids": [world.indexed_course]})


def _ask(world: World, _: pytest.MonkeyPatch) -> Request:
    return Request(world.student, {"question": "How often should I feed the sourdough starter?",
                                   "course_ids": [world.indexed_course]})


def _quiz(world: World, monkeypatch: pytest.MonkeyPatch) -> Request:
    """A saved quiz: the AI service invokes ``lms-assets-save-quiz``, here the LMS function in process."""
    from smartcourse_ai import aws

    def save_in_the_lms(payload: dict[str, Any]) -> dict[str, Any]:
        with serving(world.services, Service.LMS):
            module = importlib.import_module(function("lms-assets-save-quiz").module)
            return dict(module.handler(payload, None))

    monkeypatch.setattr(aws, "invoke_save_quiz", save_in_the_lms)
    return Request(world.admin, {"num_questions": 2, "save": True, "module_id": world.indexed_module,
                                 "title": "Starter quiz"}, path_params={"course_id": world.indexed_course})


def _nudge(world: World, _: pytest.MonkeyPatch) -> Request:
    """A course the analytics service knows (from the LMS's events) with an active learner to nudge."""
    from smartcourse_analytics.ingest import ingest

    events = analytics_events.World()
    when = datetime.now(UTC) - timedelta(days=3)
    learner = events.user("Nia Nudge", at=when)
    course = events.course(uuid.UUID(world.admin[0]), "Nudging", at=when)
    events.enroll(course, learner, when)
    with world.services.engines[Service.ANALYTICS].begin() as conn:
        ingest(conn, events.events)
    return Request(world.admin, {"user_ids": [str(learner)], "message": "One lesson today?"},
                   path_params={"course_id": str(course.course_id)})


SETUPS: dict[str, Setup] = {
    # LMS: accounts
    "lms-auth-register": lambda w, _: Request(None, {"email": new_email(), "password": PASSWORD}),
    "lms-auth-login": lambda w, _: Request(None, {"email": w.student_email, "password": PASSWORD}),
    "lms-auth-refresh": lambda w, _: Request(None, {"refresh_token": _refresh_token(w)}),
    "lms-auth-logout": lambda w, _: Request(w.student, {"refresh_token": _refresh_token(w)}),
    "lms-auth-verify-email": _verify_email,
    "lms-auth-password-forgot": lambda w, _: Request(None, {"email": w.student_email}),
    "lms-auth-password-reset": _password_reset,
    "lms-admin-update-user": lambda w, _: Request(w.admin, {"full_name": "Renamed Learner"},
                                                  {"user_id": w.user(Role.STUDENT)[0]}),
    "lms-admin-grant-role": lambda w, _: _role_change(w, Role.STUDENT),
    "lms-admin-revoke-role": lambda w, _: _role_change(w, Role.STUDENT, Role.INSTRUCTOR),
    # LMS: courses, modules, assets
    "lms-courses-create": lambda w, _: Request(w.admin, _title()),
    "lms-courses-put": lambda w, _: Request(w.admin, _title(), _course(w)),
    "lms-courses-patch": lambda w, _: Request(w.admin, _title(), _course(w)),
    "lms-courses-publish": lambda w, _: Request(w.admin, path_params=_publishable(w)),
    "lms-courses-archive": lambda w, _: Request(w.admin, path_params=_course(w)),
    "lms-courses-delete": lambda w, _: Request(w.admin, path_params=_course(w)),
    "lms-courses-add-prerequisite": lambda w, _: Request(w.admin, path_params={
        "course_id": w.course(), "prerequisite_id": w.course()}),
    "lms-courses-remove-prerequisite": _remove_prerequisite,
    "lms-modules-create": lambda w, _: Request(w.admin, {**_course(w), **_title()}),
    "lms-modules-put": lambda w, _: Request(w.admin, _title(), _module(w)),
    "lms-modules-patch": lambda w, _: Request(w.admin, _title(), _module(w)),
    "lms-modules-delete": lambda w, _: Request(w.admin, path_params=_module(w)),
    "lms-assets-create": lambda w, _: Request(w.admin, {**_module(w), **_title(), "asset_type": "video",
                                                        "source_url": "https://video.example.test/3"}),
    "lms-assets-put": lambda w, _: Request(w.admin, {**_title(), "source_url": "https://video.example.test/2"},
                                           _asset(w)),
    "lms-assets-patch": lambda w, _: Request(w.admin, _title(), _asset(w)),
    "lms-assets-delete": lambda w, _: Request(w.admin, path_params=_asset(w)),
    "lms-assets-upload-url": lambda w, _: Request(w.admin, {"content_type": "application/json",
                                                            "size_bytes": 512}, _asset(w, "article")),
    "lms-assets-complete-upload": _complete_upload,
    # LMS: learning
    "lms-enrollments-create": lambda w, _: Request(w.student, {"course_id": w.published_lms_course()[0]}),
    "lms-enrollments-put": lambda w, _: Request(w.admin, {"status": "dropped"}, _enrollment(w)),
    "lms-enrollments-patch": lambda w, _: Request(w.admin, {"status": "dropped"}, _enrollment(w)),
    "lms-enrollments-delete": lambda w, _: Request(w.admin, path_params=_enrollment(w)),
    "lms-progress-record": _progress,
    # Notification
    "notification-update-preferences": lambda w, _: Request((str(uuid.uuid4()), "student"), {"email": False}),
    "notification-preview-template": lambda w, _: Request(w.admin, {}, {"name": "welcome_verify_email"}),
    "notification-mark-read": _mark_read,
    # AI
    "ai-search": _search,
    "ai-content-search": _search,
    "ai-rag-ask": _ask,
    "ai-rag-ask-stream": _ask,
    "ai-quiz": _quiz,
    "ai-settings-put": lambda w, _: Request(w.admin, {"summary": False}, {"course_id": w.ai_course()}),
    "ai-settings-patch": lambda w, _: Request(w.admin, {"quiz": False}, {"course_id": w.ai_course()}),
    "ai-generate-embeddings": lambda w, _: Request(w.admin, query={"course_id": w.ai_course(),
                                                                  "force_regenerate": "true"}),
    # Analytics
    "analytics-nudge": _nudge,
    "analytics-reports-create": lambda w, _: Request(w.admin, {"type": "platform", "format": "csv"}),
}


# --- the world ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(postgres: Any, moto: Any) -> Iterator[World]:
    import boto3
    from smartcourse import secrets
    from smartcourse_ai.providers import registry

    services = build(postgres, moto, "idem")
    secret = boto3.client("secretsmanager", endpoint_url=moto.endpoint, region_name="us-east-1").create_secret(
        Name=f"jwt-{uuid.uuid4().hex[:8]}", SecretString=JWT_KEY)["ARN"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JWT_SECRET_ARN", secret)
        mp.setenv("JWT_ISSUER", ISSUER)
        mp.setenv("AWS_ENDPOINT_URL", moto.endpoint)
        for name in ("OUTBOX_PUBLISHER_FUNCTION", "AI_MONTHLY_TOKEN_QUOTA", "AI_GENERATOR", "AI_EMBEDDER"):
            mp.delenv(name, raising=False)  # nothing to invoke in process; the local providers
        secrets.clear_cache()
        aws_clients.reset_clients()
        try:
            yield _populated(services, registry.get_embedder())
        finally:
            aws_clients.reset_clients()
            reset_service_caches()
            for engine in services.engines.values():
                engine.dispose()


def _populated(services: ServiceWorld, embedder: Any) -> World:
    """Two users, and a course of the LMS whose content the AI service has indexed (published under its id)."""
    email = new_email()
    admin = new_user(services, new_email(), Role.ADMIN, Role.INSTRUCTOR)
    student = new_user(services, email, Role.STUDENT)
    with serving(services, Service.AI):
        pipeline = Pipeline(services.engines[Service.AI], embedder, services.s3)
    world = World(services, admin, student, email, pipeline, indexed_course="", indexed_module="")
    world.indexed_course = world.course()
    world.indexed_module = world.module(world.indexed_course)
    course = published_course(SOURDOUGH, course_id=uuid.UUID(world.indexed_course),
                              instructor_id=uuid.UUID(admin[0]))
    for key, data in course.documents.items():
        services.s3.put_object(Bucket=services.bucket, Key=key, Body=data, ContentType="application/json")
    with serving(services, Service.AI):
        pipeline.publish(course)
        assert [s.value for s in pipeline.drain()] == ["indexed"] * len(course.documents)
    return world


# --- the tests ----------------------------------------------------------------------------------------------------


def test_every_mutating_route_has_a_request_that_succeeds() -> None:
    assert len(MUTATING) == 46
    assert set(SETUPS) == {f.name for f in MUTATING}
    assert set(SETUPS) >= READ_ONLY


@pytest.mark.parametrize("fn", MUTATING, ids=lambda f: f.name)
def test_a_replay_answers_the_first_response_and_changes_nothing(
        fn: Function, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    request = SETUPS[fn.name](world, monkeypatch)
    call = {"who": request.who, "body": request.body, "path_params": request.path_params, "query": request.query}
    key = f"it-{uuid.uuid4()}"

    with serving(world.services, fn.service):
        before = state(world.services)
        first = invoke(fn, key=key, **call)
        after_first = state(world.services)
        events = outbox_counts(world.services)
        second = invoke(fn, key=key, **call)
        after_replay, events_after_replay = state(world.services), outbox_counts(world.services)
        other = invoke(fn, key=key, **{**call, "body": {"another": "body"}})
        after_other = state(world.services)

    assert 200 <= first["statusCode"] < 300, (fn.name, first["statusCode"], first["body"])
    assert idempotency.REPLAYED_HEADER not in first["multiValueHeaders"]
    if fn.name not in READ_ONLY:
        assert after_first != before, f"{fn.name}: the first request changed nothing"
    assert second["multiValueHeaders"].get(idempotency.REPLAYED_HEADER) == ["true"], fn.name
    replay = {**second, "multiValueHeaders": {k: v for k, v in second["multiValueHeaders"].items()
                                              if k != idempotency.REPLAYED_HEADER}}
    assert replay == first, fn.name
    assert after_replay == after_first, f"{fn.name}: the replay changed the platform"
    assert events_after_replay == events, f"{fn.name}: the replay wrote another event"

    # The same key with another body is refused and changes nothing either.
    assert other["statusCode"] == 422, (fn.name, other["body"])
    assert body_of(other)["detail"][0]["type"] == "idempotency_key_reused"
    assert after_other == after_first
