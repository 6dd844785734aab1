"""Test helpers of the analytics service: a small event world (users, a published course, enrollments,
progress) built as validated envelopes, as the LMS would publish them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import build_event

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def event(event_type: str, payload: dict[str, Any], at: datetime) -> EventEnvelope:
    jsonable = {k: str(v) if isinstance(v, uuid.UUID | datetime) else v for k, v in payload.items()}
    return build_event(jsonable, event_type=event_type, occurred_at=at)


@dataclass
class Course:
    course_id: uuid.UUID
    instructor_id: uuid.UUID
    title: str
    modules: list[tuple[uuid.UUID, str, list[uuid.UUID]]]  # (module_id, title, asset ids) in order

    @property
    def assets(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(module_id, asset_id) of every asset, in course order."""
        return [(module_id, asset_id) for module_id, _, assets in self.modules for asset_id in assets]


@dataclass
class World:
    """Builds events; ``events`` keeps them in the order they were made."""

    events: list[EventEnvelope] = field(default_factory=list)

    def add(self, event_type: str, payload: dict[str, Any], at: datetime) -> EventEnvelope:
        envelope = event(event_type, payload, at)
        self.events.append(envelope)
        return envelope

    def user(self, name: str, roles: tuple[str, ...] = ("student",), at: datetime = T0) -> uuid.UUID:
        user_id = uuid.uuid4()
        self.add("user.registered", {"user_id": user_id, "email": f"{name.lower().replace(' ', '.')}@example.com",
                                     "full_name": name, "roles": list(roles),
                                     "verification_token_ref": uuid.uuid4()}, at)
        return user_id

    def course(self, instructor_id: uuid.UUID, title: str, assets_per_module: tuple[int, ...] = (2, 2),
               at: datetime = T0) -> Course:
        course = Course(uuid.uuid4(), instructor_id, title, [
            (uuid.uuid4(), f"Module {i + 1}", [uuid.uuid4() for _ in range(n)])
            for i, n in enumerate(assets_per_module)])
        self.add("course.created", {"course_id": course.course_id, "instructor_id": instructor_id, "title": title}, at)
        self.add("course.published", {
            "course_id": str(course.course_id), "instructor_id": str(instructor_id), "title": title,
            "description": None, "published_at": at.isoformat(),
            "modules": [{"module_id": str(m), "title": mt, "assets": [
                {"asset_id": str(a), "title": f"Asset {j + 1}", "asset_type": "video",
                 "source_url": "https://video.example/1"} for j, a in enumerate(assets)]}
                for m, mt, assets in course.modules]}, at)
        return course

    def enroll(self, course: Course, user_id: uuid.UUID, at: datetime) -> uuid.UUID:
        enrollment_id = uuid.uuid4()
        self.add("enrollment.created", {"enrollment_id": enrollment_id, "user_id": user_id,
                                        "course_id": course.course_id, "source": "self", "enrolled_at": at}, at)
        return enrollment_id

    def progress(self, course: Course, enrollment_id: uuid.UUID, user_id: uuid.UUID, asset_index: int,
                 percent: float, course_percent: float, at: datetime, seconds: int = 60) -> EventEnvelope:
        module_id, asset_id = course.assets[asset_index]
        return self.add("progress.updated", {
            "enrollment_id": enrollment_id, "user_id": user_id, "course_id": course.course_id,
            "asset_id": asset_id, "module_id": module_id, "progress_percent": percent,
            "time_spent_delta": seconds, "course_percent": course_percent}, at)

    def complete_asset(self, course: Course, enrollment_id: uuid.UUID, user_id: uuid.UUID, asset_index: int,
                       at: datetime, seconds: int = 60) -> EventEnvelope:
        """The asset at 100 %, the course percent as the LMS computes it (completed assets ÷ all assets)."""
        done = asset_index + 1
        return self.progress(course, enrollment_id, user_id, asset_index, 100.0,
                             round(100 * done / len(course.assets), 2), at, seconds)

    def complete(self, course: Course, enrollment_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> None:
        self.add("enrollment.completed", {"enrollment_id": enrollment_id, "user_id": user_id,
                                          "course_id": course.course_id, "completed_at": at}, at)

    def drop(self, course: Course, enrollment_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> None:
        self.add("enrollment.dropped", {"enrollment_id": enrollment_id, "user_id": user_id,
                                        "course_id": course.course_id}, at)

    def certificate(self, course: Course, enrollment_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> None:
        self.add("certificate.issued", {"certificate_id": uuid.uuid4(), "serial_no": "SC-ABCDEFGHJKMN",
                                        "enrollment_id": enrollment_id, "user_id": user_id,
                                        "course_id": course.course_id}, at)

    def nudge(self, course: Course, user_id: uuid.UUID, sender_id: uuid.UUID, at: datetime,
              message: str = "We miss you") -> uuid.UUID:
        nudge_id = uuid.uuid4()
        self.add("learner.nudge_requested", {"nudge_id": nudge_id, "course_id": course.course_id,
                                             "course_title": course.title, "user_id": user_id,
                                             "instructor_id": sender_id, "message": message}, at)
        return nudge_id


def days(n: float) -> timedelta:
    return timedelta(days=n)
