"""The analytics figures and the nudge through their real handlers (API Gateway REST events, in process) against
a real analytics database fed by the consumer's own code (``ingest``).

The world: instructor A owns "Python basics" (C1: modules of 2, 1 and 1 assets) and "Nudging" (C4); instructor
B owns "Cohort course" (C2: 11 learners active today, one dropped) and a draft. Times are relative to now, at
noon of whole UTC days, so that every window is known.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from smartcourse_events.analytics import NUDGE_MESSAGE_MAX_LENGTH
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import build_event, topic_for
from sqlalchemy import Engine, text

from tests.integration.analytics.conftest import (
    Feed,
    Who,
    admin,
    call,
    fresh_analytics_database,
    instructor,
    make_feed,
    student,
)
from tests.support.apigw import body_of

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
TODAY = NOW.date()


def at(days_ago: int) -> datetime:
    """Noon of the UTC day ``days_ago`` days before today; for today, a moment between midnight and now."""
    if days_ago == 0:
        midnight = datetime.combine(TODAY, time.min, tzinfo=UTC)
        return midnight + (NOW - midnight) / 2
    return datetime.combine(TODAY - timedelta(days=days_ago), time(12), tzinfo=UTC)


def ts(value: str | None) -> datetime | None:
    """A timestamp of a body (ISO-8601 with an offset) as an aware datetime."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), value
    return moment


def day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


# --- a story told in events ---------------------------------------------------------------------------------------


@dataclass
class Course:
    course_id: uuid.UUID
    instructor_id: uuid.UUID
    title: str
    modules: list[tuple[uuid.UUID, list[uuid.UUID]]]


@dataclass
class Story:
    events: list[EventEnvelope] = field(default_factory=list)
    roles: dict[uuid.UUID, str] = field(default_factory=dict)

    def add(self, event_type: str, payload: dict[str, Any], when: datetime) -> None:
        self.events.append(build_event(payload, event_type=event_type, occurred_at=when))

    def user(self, name: str, role: str = "student") -> uuid.UUID:
        user_id = uuid.uuid4()
        self.roles[user_id] = role
        self.add("user.registered", {"user_id": str(user_id), "email": f"{user_id.hex[:8]}@example.test",
                                     "full_name": name, "roles": [role], "verification_token_ref": str(uuid.uuid4())},
                 at(40))
        return user_id

    def course(self, instructor_id: uuid.UUID, title: str, asset_counts: list[int], *,
               published: bool = True) -> Course:
        course = Course(uuid.uuid4(), instructor_id, title,
                        [(uuid.uuid4(), [uuid.uuid4() for _ in range(n)]) for n in asset_counts])
        self.add("course.created", {"course_id": str(course.course_id), "instructor_id": str(instructor_id),
                                    "title": title}, at(35))
        if published:
            self.add("course.published", {
                "course_id": str(course.course_id), "instructor_id": str(instructor_id), "title": title,
                "description": None, "published_at": at(30).isoformat(),
                "modules": [{"module_id": str(m), "title": f"Module {i + 1}", "assets": [
                    {"asset_id": str(a), "title": f"Asset {j + 1}", "asset_type": "article", "source_url": None,
                     "content_key": f"courses/{course.course_id}/modules/{m}/assets/{a}/content.json"}
                    for j, a in enumerate(assets)]} for i, (m, assets) in enumerate(course.modules)]}, at(30))
        return course

    def enroll(self, user_id: uuid.UUID, course: Course, days_ago: int) -> Enrollment:
        enrollment = Enrollment(uuid.uuid4(), user_id, course)
        self.add("enrollment.created", {**enrollment.ids, "source": "self", "enrolled_at": at(days_ago).isoformat()},
                 at(days_ago))
        return enrollment

    def progress(self, enrollment: Enrollment, module: int, asset: int, percent: float, course_percent: float,
                 days_ago: int, seconds: int = 60) -> None:
        module_id, assets = enrollment.course.modules[module]
        self.add("progress.updated", {**enrollment.ids, "asset_id": str(assets[asset]), "module_id": str(module_id),
                                      "progress_percent": percent, "time_spent_delta": seconds,
                                      "course_percent": course_percent}, at(days_ago))
        enrollment.seconds += seconds

    def complete(self, enrollment: Enrollment, days_ago: int) -> None:
        self.add("enrollment.completed", {**enrollment.ids, "completed_at": at(days_ago).isoformat()}, at(days_ago))

    def drop(self, enrollment: Enrollment, days_ago: int) -> None:
        self.add("enrollment.dropped", enrollment.ids, at(days_ago))


@dataclass
class Enrollment:
    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    course: Course
    seconds: int = 0

    @property
    def ids(self) -> dict[str, str]:
        return {"enrollment_id": str(self.enrollment_id), "user_id": str(self.user_id),
                "course_id": str(self.course.course_id)}


@dataclass
class World:
    story: Story
    owner_a: uuid.UUID
    owner_b: uuid.UUID
    c1: Course
    c2: Course
    c4: Course
    draft: Course
    ada: Enrollment  # C1, completed
    ben: Enrollment  # C1, inactive and stuck on module 1
    cy: Enrollment  # C1, active today; also in C2 (cy2)
    cy2: Enrollment
    dee: Enrollment  # C1, dropped
    eve: Enrollment  # C1, never started
    behind: list[uuid.UUID]  # C2 learners behind the cohort
    n1: Enrollment  # C4, active
    n2: Enrollment  # C4, active, never started
    n3: Enrollment  # C4, dropped


C2_PERCENTS = [90, 90, 90, 90, 90, 90, 80, 60, 10, 5]  # the 10 learners besides Cy (70 %)


def tell_story() -> World:
    s = Story()
    owner_a, owner_b = s.user("Instructor A", "instructor"), s.user("Instructor B", "instructor")
    s.user("The admin", "admin")
    c1 = s.course(owner_a, "Python basics", [2, 1, 1])
    c2 = s.course(owner_b, "Cohort course", [10, 1])
    c4 = s.course(owner_a, "Nudging", [1])
    draft = s.course(owner_b, "Secret draft", [1], published=False)

    ada = s.enroll(s.user("Ada"), c1, 20)
    for i, (module, asset, pct) in enumerate([(0, 0, 25), (0, 1, 50), (1, 0, 75), (2, 0, 100)]):
        s.progress(ada, module, asset, 100, pct, [18, 14, 12, 11][i], seconds=600)
    s.complete(ada, 10)

    ben = s.enroll(s.user("Ben"), c1, 20)
    s.progress(ben, 0, 0, 100, 25, 16, seconds=300)
    s.progress(ben, 0, 1, 50, 25, 15, seconds=200)
    s.progress(ben, 0, 1, 50, 25, 10, seconds=100)

    cy_id = s.user("Cy")
    cy = s.enroll(cy_id, c1, 5)
    s.progress(cy, 0, 0, 100, 25, 0, seconds=120)
    cy2 = s.enroll(cy_id, c2, 6)
    for days_ago, pct in [(4, 40), (2, 50), (1, 60), (0, 70)]:
        s.progress(cy2, 0, days_ago, 100, pct, days_ago, seconds=30)

    dee = s.enroll(s.user("Dee"), c1, 3)
    s.drop(dee, 2)
    eve = s.enroll(s.user("Eve"), c1, 2)

    behind = []
    for i, pct in enumerate(C2_PERCENTS):
        e = s.enroll(s.user(f"Quinn {i}"), c2, 8)
        s.progress(e, 0, 0, 100, pct, 0, seconds=45)
        if pct < 45:
            behind.append(e.user_id)
    gone = s.enroll(s.user("Quitter"), c2, 8)
    s.progress(gone, 0, 1, 100, 95, 3)
    s.drop(gone, 3)

    n1 = s.enroll(s.user("Nia"), c4, 12)
    s.progress(n1, 0, 0, 50, 0, 9)
    n2 = s.enroll(s.user("Noor"), c4, 12)
    n3 = s.enroll(s.user("Ned"), c4, 12)
    s.drop(n3, 11)
    return World(s, owner_a, owner_b, c1, c2, c4, draft, ada, ben, cy, cy2, dee, eve, behind, n1, n2, n3)


@pytest.fixture(scope="module")
def world(analytics_env: str, feed: Feed) -> World:
    w = tell_story()
    assert feed(w.story.events) == len(w.story.events)
    assert feed(w.story.events) == 0  # redelivered: nothing applied twice
    return w


@pytest.fixture(autouse=True)
def fresh_caches(world: World) -> Iterator[None]:
    from tests.integration.analytics.conftest import reset_analytics_caches

    reset_analytics_caches()
    yield
    reset_analytics_caches()


def ok(response: dict[str, Any], status: int = 200) -> Any:
    assert response["statusCode"] == status, response
    return body_of(response)


def assert_422(response: dict[str, Any], loc: list[str] | None = None) -> list[dict[str, Any]]:
    assert response["statusCode"] == 422, response
    detail = body_of(response)["detail"]
    assert isinstance(detail, list) and detail
    for entry in detail:
        assert set(entry) == {"loc", "msg", "type"}, entry
    if loc is not None:
        assert loc in [e["loc"] for e in detail], detail
    return list(detail)


def path(course: Course | uuid.UUID) -> dict[str, str]:
    return {"course_id": str(course.course_id if isinstance(course, Course) else course)}


def owner(course: Course) -> Who:
    return course.instructor_id, "instructor"


# --- course analytics ---------------------------------------------------------------------------------------------


def test_course_analytics_default_period(world: World) -> None:
    body = ok(call("course", owner(world.c1), path_params=path(world.c1)))
    assert body["course_id"] == str(world.c1.course_id) and body["title"] == "Python basics"
    # The period runs from the first enrollment day to today.
    assert body["period"] == {"from": day(20), "to": day(0)}
    assert body["enrollments"] == {"total": 5, "active": 3, "completed": 1, "dropped": 1}
    assert body["completion_rate"] == 0.2  # 1 of 5, the dropped one included
    assert body["average_progress"] == 30.0  # (100 + 25 + 25 + 0 + 0) / 5
    assert body["median_days_to_complete"] == 10.0
    # Ada and Ben were last active 11 and 10 days ago, Cy today.
    assert body["active_learners"] == {"last_7_days": 1, "last_30_days": 3}
    series = body["enrollments_over_time"]
    assert [d["date"] for d in series] == [day(n) for n in range(20, -1, -1)]
    by_day = {d["date"]: (d["enrolled"], d["completed"]) for d in series}
    assert by_day[day(20)] == (2, 0) and by_day[day(10)] == (0, 1) and by_day[day(5)] == (1, 0)
    assert by_day[day(19)] == (0, 0)
    assert sum(d["enrolled"] for d in series) == 5
    module_ids = [str(m) for m, _ in world.c1.modules]
    assert body["funnel"] == [
        {"module_id": module_ids[0], "title": "Module 1", "order_index": 0, "started": 3, "completed": 1},
        {"module_id": module_ids[1], "title": "Module 2", "order_index": 1, "started": 1, "completed": 1},
        {"module_id": module_ids[2], "title": "Module 3", "order_index": 2, "started": 1, "completed": 1},
    ]


def test_course_analytics_of_a_period(world: World) -> None:
    body = ok(call("course", owner(world.c1), path_params=path(world.c1), query={"from": day(5), "to": day(0)}))
    assert body["period"] == {"from": day(5), "to": day(0)}
    assert body["enrollments"] == {"total": 3, "active": 2, "completed": 0, "dropped": 1}
    assert body["completion_rate"] == 0.0
    assert body["average_progress"] == 8.33  # Cy 25, Dee 0, Eve 0
    assert body["median_days_to_complete"] is None
    assert len(body["enrollments_over_time"]) == 6


def test_active_learners_are_counted_in_the_windows_ending_at_to(world: World) -> None:
    body = ok(call("course", owner(world.c1), path_params=path(world.c1), query={"to": day(12)}))
    assert body["period"] == {"from": day(20), "to": day(12)}
    # 18..12 days ago: Ada (18, 14, 12) and Ben (16, 15); Cy's activity today lies after `to`.
    assert body["active_learners"] == {"last_7_days": 2, "last_30_days": 2}
    assert body["enrollments"]["total"] == 2  # Ada and Ben enrolled 20 days ago


def test_funnel_lists_modules_nobody_started(world: World) -> None:
    body = ok(call("course", (world.owner_b, "instructor"), path_params=path(world.c2)))
    assert [(f["title"], f["started"], f["completed"]) for f in body["funnel"]] == [
        ("Module 1", 12, 0), ("Module 2", 0, 0)]


@pytest.mark.parametrize("query", [
    {"from": "2026-03-05", "to": "2026-03-04"},
    {"from": "2026-02-30"},
    {"from": "03/01/2026"},
    {"to": "1700000000"},
    {"from": "2026-01-01T00:00:00"},
    {"from": "2020-01-01", "to": "2026-01-01"},
    {"from": "0001-01-01"},
    {"to": "9999-12-31"},
])
def test_course_analytics_refuses_bad_periods(world: World, query: dict[str, str]) -> None:
    assert_422(call("course", owner(world.c1), path_params=path(world.c1), query=query))


def test_from_after_to_names_from(world: World) -> None:
    assert_422(call("course", admin(), path_params=path(world.c1), query={"from": day(1), "to": day(2)}),
               ["query", "from"])


def test_unknown_query_parameters_are_ignored(world: World) -> None:
    plain = ok(call("course", owner(world.c1), path_params=path(world.c1)))
    extra = ok(call("course", owner(world.c1), path_params=path(world.c1), query={"colour": "blue"}))
    assert extra == plain


# --- learners -----------------------------------------------------------------------------------------------------


def test_course_learners_page_order_and_averages(world: World) -> None:
    body = ok(call("course-learners", owner(world.c1), path_params=path(world.c1)))
    assert (body["total"], body["limit"], body["offset"]) == (5, 20, 0)
    never_active = sorted([world.dee.user_id, world.eve.user_id], key=str)
    # Cy today, Ben 10 days ago, Ada 11 days ago, then the two who never were active (by user id).
    expected = [world.cy.user_id, world.ben.user_id, world.ada.user_id, *never_active]
    assert [i["user_id"] for i in body["items"]] == [str(u) for u in expected]
    first = body["items"][0]
    assert {**first, "last_activity_at": ts(first["last_activity_at"])} == {
        "user_id": str(world.cy.user_id), "full_name": "Cy", "status": "active", "percent_complete": 25.0,
        "time_spent_seconds": world.cy.seconds, "last_activity_at": at(0)}
    assert body["items"][2]["status"] == "completed" and body["items"][3]["last_activity_at"] is None
    seconds = sum(e.seconds for e in (world.ada, world.ben, world.cy, world.dee, world.eve))
    assert body["course_average"] == {"percent_complete": 30.0, "time_spent_seconds": round(seconds / 5)}

    page = ok(call("course-learners", owner(world.c1), path_params=path(world.c1),
                   query={"limit": "2", "offset": "2"}))
    assert [i["user_id"] for i in page["items"]] == [str(u) for u in expected[2:4]]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)
    beyond = ok(call("course-learners", owner(world.c1), path_params=path(world.c1),
                     query={"offset": "1000000"}))
    assert beyond["items"] == [] and beyond["total"] == 5


@pytest.mark.parametrize(("query", "loc"), [
    ({"limit": "0"}, ["query", "limit"]), ({"limit": "101"}, ["query", "limit"]),
    ({"limit": "ten"}, ["query", "limit"]), ({"limit": "1.5"}, ["query", "limit"]),
    ({"offset": "-1"}, ["query", "offset"]), ({"offset": "1000001"}, ["query", "offset"]),
    ({"offset": "99999999999999999999999"}, ["query", "offset"]),
])
def test_course_learners_refuses_bad_pages(world: World, query: dict[str, str], loc: list[str]) -> None:
    assert_422(call("course-learners", owner(world.c1), path_params=path(world.c1), query=query), loc)


# --- at risk ------------------------------------------------------------------------------------------------------


def test_at_risk_reports_the_reasons(world: World) -> None:
    body = ok(call("at-risk", owner(world.c1), path_params=path(world.c1)))
    # Ben: last active 10 days ago, on module 1 since 16 days ago with one of its two assets done.
    # Cy is active; Eve never started; Ada completed; Dee dropped. The cohort median (25 %) is below 50 %.
    assert [i["user_id"] for i in body["items"]] == [str(world.ben.user_id)]
    ben = body["items"][0]
    assert ben["full_name"] == "Ben" and ben["percent_complete"] == 25.0
    assert ts(ben["last_activity_at"]) == at(10)
    assert [r["code"] for r in ben["reasons"]] == ["inactive", "stuck_on_module"]
    idle, stuck = (datetime.now(UTC) - at(10)).days, (datetime.now(UTC) - at(16)).days  # whole days
    assert ben["reasons"][0]["detail"] == f"No activity for {idle} days (last on {day(10)})"
    assert ben["reasons"][1]["detail"] == f"On module \u201cModule 1\u201d for {stuck} days without finishing it"
    assert ben["last_nudge"] is None
    assert body["nudges"] == {"sent": 0, "returned_within_7_days": 0}


def test_at_risk_behind_the_cohort(world: World) -> None:
    body = ok(call("at-risk", admin(), path_params=path(world.c2)))
    # Cohort median 90 %: the 10 % and 5 % learners are below 45 %; the dropped learner is not in the cohort.
    assert {i["user_id"] for i in body["items"]} == {str(u) for u in world.behind}
    for item in body["items"]:
        assert [r["code"] for r in item["reasons"]] == ["behind_cohort"]
        assert item["reasons"][0]["detail"].endswith("while the cohort median is 90 %")


# --- the learner --------------------------------------------------------------------------------------------------


def test_my_progress(world: World) -> None:
    body = ok(call("me-progress", (world.cy.user_id, "student")))
    assert (body["enrolled"], body["completed"]) == (2, 0)
    assert body["time_spent_seconds"] == world.cy.seconds + world.cy2.seconds
    assert body["streak_days"] == 3  # today, yesterday, the day before; not 4 days ago (a gap)
    courses = {c["course_id"]: c for c in body["courses"]}
    c1, c2 = courses[str(world.c1.course_id)], courses[str(world.c2.course_id)]
    assert c1["title"] == "Python basics" and c1["status"] == "active" and c1["percent_complete"] == 25.0
    assert c1["percentile"] is None  # 4 learners: no percentile
    # 11 learners in C2; below Cy's 70 %: 60, 10 and 5 of the 10 others → 30.
    assert c2["percent_complete"] == 70.0 and c2["percentile"] == 30
    assert c2["time_spent_seconds"] == world.cy2.seconds and ts(c2["last_activity_at"]) == at(0)


def test_my_progress_of_a_completed_and_of_a_dropped_learner(world: World) -> None:
    ada = ok(call("me-progress", (world.ada.user_id, "student")))
    assert (ada["enrolled"], ada["completed"], ada["streak_days"]) == (1, 1, 0)
    dee = ok(call("me-progress", (world.dee.user_id, "student")))
    assert (dee["enrolled"], dee["completed"]) == (0, 0)
    assert [c["status"] for c in dee["courses"]] == ["dropped"]


def test_my_progress_is_empty_for_someone_new(world: World) -> None:
    for who in (student(), instructor(), admin()):
        assert ok(call("me-progress", who)) == {"enrolled": 0, "completed": 0, "time_spent_seconds": 0,
                                                "streak_days": 0, "courses": []}


# --- instructor and platform ---------------------------------------------------------------------------------------


def test_instructor_overview(world: World) -> None:
    body = ok(call("instructor-overview", (world.owner_a, "instructor")))
    items = {i["title"]: i for i in body["items"]}
    assert list(items) == ["Nudging", "Python basics"]
    c1 = items["Python basics"]
    assert c1 == {"course_id": str(world.c1.course_id), "title": "Python basics", "status": "published",
                  "enrollments": {"total": 5, "active": 3, "completed": 1, "dropped": 1},
                  "completion_rate": 0.2, "average_progress": 30.0,
                  "active_learners": {"last_7_days": 1, "last_30_days": 3}, "at_risk": 1}
    b = ok(call("instructor-overview", (world.owner_b, "instructor,student")))
    by_title = {i["title"]: i for i in b["items"]}
    assert by_title["Secret draft"]["status"] == "draft" and by_title["Secret draft"]["enrollments"]["total"] == 0
    assert by_title["Cohort course"]["at_risk"] == len(world.behind)


def test_platform(world: World) -> None:
    body = ok(call("platform", admin()))
    roles = list(world.story.roles.values())
    assert body["users"] == {"total": len(roles), "by_role": {"student": roles.count("student"),
                                                              "instructor": 2, "admin": 1}}
    # Today: Cy and the 10 C2 learners; this week also the quitter (3 days ago); this month Ada, Ben, Nia.
    assert (body["dau"], body["wau"], body["mau"]) == (11, 12, 15)
    assert body["period"]["to"] == day(0) and body["period"]["from"] == day(20)
    series = body["enrollments_over_time"]
    assert sum(d["enrolled"] for d in series) == 5 + 12 + 3
    assert sum(d["completed"] for d in series) == 1
    assert [(c["title"], c["enrollments"], c["completions"]) for c in body["top_courses"]] == [
        ("Cohort course", 12, 0), ("Python basics", 5, 1), ("Nudging", 3, 0)]
    assert body["top_courses"][1]["completion_rate"] == 0.2

    week = ok(call("platform", admin(), query={"from": day(6), "to": day(1)}))
    # Enrolled 6..1 days ago: Cy, Dee and Eve in C1, Cy in C2.
    assert [(c["title"], c["enrollments"]) for c in week["top_courses"]] == [("Python basics", 3),
                                                                             ("Cohort course", 1)]
    assert (week["dau"], week["wau"]) == (1, 2)  # yesterday: Cy; 7 days to yesterday: Cy and the quitter
    assert_422(call("platform", admin(), query={"from": day(1), "to": day(6)}), ["query", "from"])
    assert_422(call("platform", admin(), query={"to": "tomorrow"}), ["query", "to"])


# --- authorization ------------------------------------------------------------------------------------------------

COURSE_ROUTES = ["course", "course-learners", "at-risk"]


@pytest.mark.parametrize("route", COURSE_ROUTES)
def test_course_routes_are_for_the_course_staff(world: World, route: str) -> None:
    learner: Who = (world.cy.user_id, "student")
    assert call(route, learner, path_params=path(world.c1))["statusCode"] == 403
    assert call(route, (world.owner_b, "instructor"), path_params=path(world.c1))["statusCode"] == 403
    assert call(route, owner(world.c1), path_params=path(world.c1))["statusCode"] == 200
    assert call(route, admin(), path_params=path(world.c1))["statusCode"] == 200
    # Someone else's draft is not even known to exist; its owner sees it.
    assert call(route, owner(world.c1), path_params=path(world.draft))["statusCode"] == 404
    assert call(route, (world.owner_b, "instructor"), path_params=path(world.draft))["statusCode"] == 200
    for who in (owner(world.c1), admin()):
        response = call(route, who, path_params=path(uuid.uuid4()))
        assert response["statusCode"] == 404 and body_of(response) == {"detail": "Course not found"}


def test_nudge_is_for_the_course_staff(world: World) -> None:
    body = {"user_ids": [str(world.n2.user_id)], "message": "Come back!"}
    for who in ((world.cy.user_id, "student"), (world.owner_b, "instructor")):
        assert call("nudge", who, path_params=path(world.c4), body=body)["statusCode"] == 403
    assert call("nudge", admin(), path_params=path(uuid.uuid4()), body=body)["statusCode"] == 404
    assert call("nudge", owner(world.c4), path_params=path(world.draft), body=body)["statusCode"] == 404


@pytest.mark.parametrize(("who", "status"), [(student(), 403), (instructor(), 200), (admin(), 200)])
def test_instructor_overview_by_role(world: World, who: Who, status: int) -> None:
    response = call("instructor-overview", who)
    assert response["statusCode"] == status
    if status == 200:
        assert body_of(response) == {"items": []}  # nobody's courses but their own


@pytest.mark.parametrize(("who", "status"), [(student(), 403), (instructor(), 403), (admin(), 200)])
def test_platform_is_for_admins(world: World, who: Who, status: int) -> None:
    assert call("platform", who)["statusCode"] == status


@pytest.mark.parametrize("route", ["me-progress", "instructor-overview", "platform", "course"])
def test_no_principal_is_401(world: World, route: str) -> None:
    kwargs = {"path_params": path(world.c1)} if route == "course" else {}
    assert call(route, None, **kwargs)["statusCode"] == 401


# --- the nudge ------------------------------------------------------------------------------------------------------


def outbox_events(db: Engine, course_id: uuid.UUID) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(text("SELECT topic, key, event_type, envelope FROM outbox "
                                 "WHERE event_type = 'learner.nudge_requested' "
                                 "AND envelope->'payload'->>'course_id' = :c ORDER BY created_at"),
                            {"c": str(course_id)}).mappings().all()
    return [dict(r) for r in rows]


def test_nudge_once_per_day_with_an_outbox_event(world: World, analytics_db: Engine, feed: Feed) -> None:
    stranger = uuid.uuid4()
    sender = owner(world.c4)
    ids = [world.n1.user_id, world.n2.user_id, world.n3.user_id, stranger]
    first = ok(call("nudge", sender, path_params=path(world.c4),
                    body={"user_ids": [str(u) for u in ids], "message": "We miss you \u2014 one lesson today?"}),
               202)
    assert [n["user_id"] for n in first["nudged"]] == [str(world.n1.user_id), str(world.n2.user_id)]
    assert first["skipped"] == [{"user_id": str(world.n3.user_id), "reason": "not_enrolled"},
                                {"user_id": str(stranger), "reason": "not_enrolled"}]

    events = outbox_events(analytics_db, world.c4.course_id)
    assert len(events) == 2
    for event, nudged in zip(events, first["nudged"], strict=True):
        assert event["topic"] == topic_for("learner.nudge_requested")
        payload = event["envelope"]["payload"]
        assert payload == {"nudge_id": nudged["nudge_id"], "course_id": str(world.c4.course_id),
                           "course_title": "Nudging", "user_id": nudged["user_id"],
                           "instructor_id": str(sender[0]), "message": "We miss you \u2014 one lesson today?"}
        assert event["envelope"]["producer"] == "analytics"
    with analytics_db.connect() as conn:
        recorded = conn.execute(text("SELECT nudge_id::text, sender_id FROM nudges WHERE course_id = :c"),
                                {"c": world.c4.course_id}).all()
    assert {r[0] for r in recorded} == {n["nudge_id"] for n in first["nudged"]}
    assert {r[1] for r in recorded} == {sender[0]}

    again = ok(call("nudge", admin(), path_params=path(world.c4),
                    body={"user_ids": [str(world.n2.user_id), str(world.n1.user_id)], "message": "Again"}), 202)
    assert again["nudged"] == []
    assert again["skipped"] == [{"user_id": str(world.n2.user_id), "reason": "already_nudged_today"},
                                {"user_id": str(world.n1.user_id), "reason": "already_nudged_today"}]
    assert len(outbox_events(analytics_db, world.c4.course_id)) == 2

    # Nia is at risk (inactive 9 days); her nudge shows, still open; once she progresses it counts as returned.
    view = ok(call("at-risk", sender, path_params=path(world.c4)))
    nia = next(i for i in view["items"] if i["user_id"] == str(world.n1.user_id))
    assert nia["last_nudge"]["returned_within_7_days"] is None
    assert view["nudges"] == {"sent": 2, "returned_within_7_days": 0}
    # The consumer also gets the nudge events back (its own topic): recorded once.
    assert feed([EventEnvelope.model_validate(e["envelope"]) for e in events]) == 2
    module_id, assets = world.c4.modules[0]
    feed([build_event({**world.n1.ids, "asset_id": str(assets[0]), "module_id": str(module_id),
                       "progress_percent": 100, "time_spent_delta": 30, "course_percent": 100},
                      event_type="progress.updated", occurred_at=datetime.now(UTC))])
    after = ok(call("at-risk", sender, path_params=path(world.c4)))
    assert after["nudges"] == {"sent": 2, "returned_within_7_days": 1}
    assert str(world.n1.user_id) not in {i["user_id"] for i in after["items"]}


@pytest.mark.parametrize("body", [
    {"user_ids": [], "message": "Hi"},
    {"user_ids": [str(uuid.uuid4())] * 2, "message": "Hi"},
    {"user_ids": [str(uuid.uuid4()) for _ in range(101)], "message": "Hi"},
    {"user_ids": ["not-a-uuid"], "message": "Hi"},
    {"user_ids": [str(uuid.uuid4())], "message": "   "},
    {"user_ids": [str(uuid.uuid4())], "message": "Hi\x00there"},
    {"user_ids": [str(uuid.uuid4())], "message": "x" * (NUDGE_MESSAGE_MAX_LENGTH + 1)},
    {"user_ids": [str(uuid.uuid4())]},
    {"message": "Hi"},
    {"user_ids": [str(uuid.uuid4())], "message": "Hi", "cc": "everyone"},
])
def test_nudge_refuses_bad_bodies(world: World, body: dict[str, Any]) -> None:
    assert_422(call("nudge", owner(world.c4), path_params=path(world.c4), body=body))


def test_nudge_refuses_a_lone_surrogate_and_malformed_json(world: World) -> None:
    raw = '{"user_ids": ["' + str(uuid.uuid4()) + '"], "message": "Hi \\ud800"}'
    assert_422(call("nudge", owner(world.c4), path_params=path(world.c4), raw_body=raw))
    broken = call("nudge", owner(world.c4), path_params=path(world.c4), raw_body="{not json")
    assert broken["statusCode"] == 400


# --- events in another order --------------------------------------------------------------------------------------


def test_events_out_of_order_give_the_same_figures(world: World, postgres: Any, analytics_db: Engine) -> None:
    """The same story fed topic by topic in reverse (progress before enrollments before courses before users),
    one event per batch, gives the same answer on every route as the story fed in order."""
    from smartcourse.db.engine import normalise_url
    from smartcourse_analytics import figures
    from sqlalchemy import create_engine

    story = tell_story().story
    topics = ["smartcourse.progress-events", "smartcourse.enrollment-events", "smartcourse.course-events",
              "smartcourse.user-events"]
    reordered = [e for topic in topics for e in story.events if topic_for(e.event_type) == topic]
    assert len(reordered) == len(story.events)

    engines = [create_engine(normalise_url(fresh_analytics_database(postgres, "analytics_order")))
               for _ in range(2)]
    try:
        make_feed(engines[0])(story.events)
        reversed_feed = make_feed(engines[1])
        for event in reordered:
            reversed_feed([event])

        def answers(engine: Engine) -> list[Any]:
            with engine.connect() as conn:
                return [
                    figures.course_analytics(conn, story_course.course_id, None, None, TODAY)
                    for story_course in _courses(story)
                ] + [
                    figures.course_learners(conn, story_course.course_id, 100, 0) for story_course in _courses(story)
                ] + [
                    figures.at_risk(conn, story_course.course_id, NOW) for story_course in _courses(story)
                ] + [figures.learner_progress(conn, user_id, TODAY) for user_id in story.roles] + [
                    figures.instructor_overview(conn, instructor_id, NOW)
                    for instructor_id, role in story.roles.items() if role == "instructor"
                ] + [figures.platform_overview(conn, None, None, TODAY)]

        in_order, out_of_order = answers(engines[0]), answers(engines[1])
        assert out_of_order == in_order
        assert in_order[0]["enrollments"]["total"] == 5  # the comparison is over real figures
    finally:
        for engine in engines:
            engine.dispose()


def _courses(story: Story) -> list[Course]:
    seen: dict[uuid.UUID, Course] = {}
    for event in story.events:
        if event.event_type == "course.created":
            course_id = uuid.UUID(event.payload["course_id"])
            seen[course_id] = Course(course_id, uuid.UUID(event.payload["instructor_id"]), event.payload["title"], [])
    return list(seen.values())

