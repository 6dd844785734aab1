"""Fixtures of the analytics e2e tests: the analytics API's client, and a course with learners at known points
of it, built through the LMS API (their events reach analytics through the broker, like in production)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from localcloud.cloud import LocalCloud

from tests.e2e.ai.conftest import LiveCourse, publish_course, wait_for
from tests.e2e.support import Account, register

EVENT_TIMEOUT = 60.0


@pytest.fixture(scope="session")
def analytics(cloud: LocalCloud) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloud.api_urls["analytics"], timeout=60) as client:
        yield client


def video(title: str) -> dict[str, Any]:
    return {"title": title, "asset_type": "video", "source_url": f"https://videos.example/{title.replace(' ', '-')}"}


COURSE_SPEC = {"title": "Ceramics at home", "description": "Clay, wheel and kiln.", "modules": [
    {"title": "Clay", "assets": [video("Choosing clay"), video("Wedging")]},
    {"title": "Wheel", "assets": [video("Centering"), video("Pulling walls")]},
]}


@dataclass
class Cohort:
    """A published course and five learners: A finished it, B and C are at 75 %, D at 25 %, E dropped."""

    course: LiveCourse
    learners: dict[str, Account]
    enrollments: dict[str, str] = field(default_factory=dict)

    @property
    def asset_ids(self) -> list[str]:
        return list(self.course.assets.values())


def progress(http: httpx.Client, learner: Account, asset_id: str, seconds: int = 120) -> dict[str, Any]:
    response = http.post(f"/api/v1/progress/assets/{asset_id}", json={"progress_percent": 100,
                                                                       "time_spent_seconds": seconds},
                         headers=learner.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def build_cohort(http: httpx.Client, owner: Account | None = None) -> Cohort:
    owner = owner or register(http, "instructor")
    course = publish_course(http, owner, COURSE_SPEC)
    cohort = Cohort(course, {name: register(http, "student") for name in "ABCDE"})
    for name, learner in cohort.learners.items():
        enrolled = http.post("/api/v1/enrollments", json={"course_id": course.id}, headers=learner.headers)
        assert enrolled.status_code == 201, enrolled.text
        cohort.enrollments[name] = enrolled.json()["id"]
    assets = cohort.asset_ids
    for name, done in (("A", 4), ("B", 3), ("C", 3), ("D", 1)):
        for asset_id in assets[:done]:
            progress(http, cohort.learners[name], asset_id)
    dropped = http.patch(f"/api/v1/enrollments/{cohort.enrollments['E']}", json={"status": "dropped"},
                         headers=cohort.learners["E"].headers)
    assert dropped.status_code == 200, dropped.text
    return cohort


def wait_for_figures(analytics: httpx.Client, path: str, who: Account,
                     ready: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """The route's body once ``ready`` holds (the events travel through the broker to the consumer)."""
    def body() -> dict[str, Any] | None:
        response = analytics.get(path, headers=who.headers)
        if response.status_code != 200:
            return None
        data: dict[str, Any] = response.json()
        return data if ready(data) else None

    result: dict[str, Any] = wait_for(body, EVENT_TIMEOUT, what)
    return result


@pytest.fixture(scope="module")
def cohort(http: httpx.Client, analytics: httpx.Client) -> Cohort:
    built = build_cohort(http)
    wait_for_figures(analytics, f"/api/v1/analytics/courses/{built.course.id}", built.course.owner,
                     lambda d: d["enrollments"] == {"total": 5, "active": 3, "completed": 1, "dropped": 1}
                     and sum(m["started"] for m in d["funnel"]) == 7,
                     "the cohort's events in the course analytics")
    return built
