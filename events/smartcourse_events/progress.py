"""Events about learning progress (topic ``smartcourse.progress-events``).

Keyed by ``enrollment_id`` (aggregate ``enrollment``) so one learner's
progress in one course stays ordered.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import Field

from smartcourse_events.base import EventPayload
from smartcourse_events.topics import PROGRESS_EVENTS

# The LMS's limit on one progress report's time (smartcourse_lms.enrollments.schemas.MAX_TIME_SPENT_SECONDS; the
# contract may not import a service, a test keeps the two equal): sums of it stay far inside a bigint.
TIME_SPENT_DELTA_MAX = 10 * 365 * 24 * 3600


class ProgressUpdatedV1(EventPayload):
    topic: ClassVar[str] = PROGRESS_EVENTS
    aggregate_type: ClassVar[str] = "enrollment"
    event_type: ClassVar[str] = "progress.updated"
    event_version: ClassVar[int] = 1

    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    asset_id: uuid.UUID
    module_id: uuid.UUID
    progress_percent: float = Field(ge=0, le=100, description="the asset's progress after the update")
    time_spent_delta: int = Field(ge=0, le=TIME_SPENT_DELTA_MAX, description="seconds added by this update")
    course_percent: float = Field(ge=0, le=100, description="the course's progress after the update, 2 decimals")
