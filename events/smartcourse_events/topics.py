"""Kafka topic names (events.md). Key = aggregate id, so one aggregate's events stay ordered."""

from __future__ import annotations

USER_EVENTS = "smartcourse.user-events"
COURSE_EVENTS = "smartcourse.course-events"
ENROLLMENT_EVENTS = "smartcourse.enrollment-events"
PROGRESS_EVENTS = "smartcourse.progress-events"
ANALYTICS_EVENTS = "smartcourse.analytics-events"

ALL_TOPICS: tuple[str, ...] = (USER_EVENTS, COURSE_EVENTS, ENROLLMENT_EVENTS, PROGRESS_EVENTS,
                                ANALYTICS_EVENTS)
