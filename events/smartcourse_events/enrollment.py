"""Events about enrollments and certificates (topic ``smartcourse.enrollment-events``).

All are keyed by ``enrollment_id`` (aggregate ``enrollment``), including
``certificate.issued``: a certificate belongs to exactly one enrollment, so
keying it by the enrollment keeps ``enrollment.completed`` and the
``certificate.issued`` that follows it in the same partition, in order.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import AwareDatetime, Field

from smartcourse_events.base import EventPayload
from smartcourse_events.topics import ENROLLMENT_EVENTS


class _EnrollmentEvent(EventPayload):
    topic: ClassVar[str] = ENROLLMENT_EVENTS
    aggregate_type: ClassVar[str] = "enrollment"

    enrollment_id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID


class EnrollmentCreatedV1(_EnrollmentEvent):
    event_type: ClassVar[str] = "enrollment.created"
    event_version: ClassVar[int] = 1

    source: str = Field(min_length=1, max_length=100, description="how the enrollment came about, e.g. self, staff")
    enrolled_at: AwareDatetime


class EnrollmentDroppedV1(_EnrollmentEvent):
    event_type: ClassVar[str] = "enrollment.dropped"
    event_version: ClassVar[int] = 1


class EnrollmentCompletedV1(_EnrollmentEvent):
    event_type: ClassVar[str] = "enrollment.completed"
    event_version: ClassVar[int] = 1

    completed_at: AwareDatetime


class CertificateIssuedV1(_EnrollmentEvent):
    event_type: ClassVar[str] = "certificate.issued"
    event_version: ClassVar[int] = 1

    certificate_id: uuid.UUID
    serial_no: str = Field(pattern=r"^SC-[0-9A-Z]{12}$", description="SC- + 12 uppercase base32 characters")
