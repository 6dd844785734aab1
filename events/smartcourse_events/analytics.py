"""Events the analytics service produces (topic ``smartcourse.analytics-events``).

``report.ready`` is keyed by ``report_id`` (aggregate ``report``); ``learner.nudge_requested`` by ``nudge_id``
(aggregate ``nudge``). The notification service turns both into mail. Neither carries a presigned URL (it
would expire while the event waits): a report names its S3 key, and its owner fetches a fresh link from the
analytics API.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from smartcourse_events.base import EventPayload
from smartcourse_events.topics import ANALYTICS_EVENTS

ReportType = Literal["course", "instructor", "platform"]
# The analytics API's limit on a nudge's message (a test keeps the API's schema equal to it).
NUDGE_MESSAGE_MAX_LENGTH = 1000


class ReportReadyV1(EventPayload):
    topic: ClassVar[str] = ANALYTICS_EVENTS
    aggregate_type: ClassVar[str] = "report"
    event_type: ClassVar[str] = "report.ready"
    event_version: ClassVar[int] = 1

    report_id: uuid.UUID
    owner_user_id: uuid.UUID
    report_type: ReportType
    course_id: uuid.UUID | None = None
    period_from: date
    period_to: date
    download_key: str = Field(min_length=1, max_length=1024, description="S3 key of the report in the reports bucket")
    format: Literal["html", "csv"] = "html"
    scheduled: bool = Field(default=False, description="built by a schedule (weekly digest, daily platform report)")


class LearnerNudgeRequestedV1(EventPayload):
    topic: ClassVar[str] = ANALYTICS_EVENTS
    aggregate_type: ClassVar[str] = "nudge"
    event_type: ClassVar[str] = "learner.nudge_requested"
    event_version: ClassVar[int] = 1

    nudge_id: uuid.UUID
    course_id: uuid.UUID
    course_title: str = Field(min_length=1, max_length=300)
    user_id: uuid.UUID
    instructor_id: uuid.UUID = Field(description="who sent the nudge (the course's owner or an admin)")
    message: str = Field(min_length=1, max_length=NUDGE_MESSAGE_MAX_LENGTH)
