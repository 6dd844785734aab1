"""The notification consumer's effects: one function per event type, ``(envelope, connection) -> None``.

Each runs inside the consumer framework's transaction (``smartcourse.consumers``), which also records the
event id in ``processed_events``: a redelivered event is skipped, and should the commit fail the event is
redelivered and re-planned with the same deterministic send ids.

Planning a notification (``notify``) decides per channel (``rules.decide``, from the stored preferences or
the defaults), records each send as ``queued`` (opted-out channels as ``skipped`` with the reason) and puts
its id on the send queue before the commit. A message whose row did not commit is retried by the sender
until the redelivered event commits it.

The consumer does not need the recipient or the course projection to plan: they arrive on other topics
(``user.registered``, ``course.published``), possibly later in the very same batch as the
``enrollment.created`` that needs them. The sender resolves them when it delivers, and retries until they
exist. Only the instructor notices need the course projection here (to know whom to notify); their events
share the course's partition with ``course.published``, so it is always applied before them.

The analytics service's events are planned the same way: a nudge (``learner.nudge_requested``) goes to the
learner and carries its course title; a ready report (``report.ready``) goes to its owner with a link to the
report's page on the analytics API. Their recipients, too, are resolved by the sender.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from smartcourse.links import analytics_report_url, certificate_verify_url
from smartcourse.settings import get_settings
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import payload_model
from sqlalchemy import Connection

from smartcourse_notification import repository as repo
from smartcourse_notification.aws import enqueue_send
from smartcourse_notification.domain import SendStatus
from smartcourse_notification.rendering import template_spec
from smartcourse_notification.rules import (
    COURSE_KEY,
    DEFAULT_PREFERENCES,
    LINK_KEY,
    decide,
    report_period,
    report_template,
    send_id,
)

CONSUMER_NAME = "notification-events"
Effect = Callable[[EventEnvelope, Connection], None]


class ProjectionMissing(RuntimeError):
    """A course notice for a course the service has never seen published: retried, then dead-lettered."""


def _payload(envelope: EventEnvelope) -> Any:
    return payload_model(envelope.event_type, envelope.event_version).model_validate(envelope.payload)


def course_url(course_id: uuid.UUID) -> str:
    return f"{get_settings().app_base_url.rstrip('/')}/courses/{course_id}"


def certificate_url(serial_no: str) -> str:
    """The public verification link of the LMS API (the route of ``lms-certificates-verify``)."""
    return certificate_verify_url(get_settings().public_base_url, serial_no)


def report_url(report_id: uuid.UUID) -> str:
    """The report's page on the analytics API, which presigns a fresh download for its owner.

    Never the presigned URL itself: it would expire while a mail waits unread, and it is a credential that
    must not sit in the sends table or in logs.
    """
    return analytics_report_url(get_settings().analytics_base_url, report_id)


def notify(conn: Connection, envelope: EventEnvelope, template: str, user_id: uuid.UUID,
           context: Mapping[str, Any], *, link: str | None = None,
           enqueue: Callable[[uuid.UUID], None] = enqueue_send) -> None:
    """Plan ``template`` for ``user_id``; ``context`` holds the variables known now (plus ``course_id``)."""
    spec = template_spec(template)
    prefs = repo.get_preferences(conn, user_id) or DEFAULT_PREFERENCES
    stored = {**context, **({LINK_KEY: link} if link else {})}
    for decision in decide(spec, prefs):
        sid = send_id(envelope.event_id, user_id, decision.channel)
        common: dict[str, Any] = {"id": sid, "event_id": envelope.event_id, "user_id": user_id,
                                  "channel": decision.channel.value, "template": template,
                                  "address": decision.address, "context": stored}
        if not decision.send:
            repo.insert_send(conn, **common, status=SendStatus.SKIPPED, last_error=decision.reason)
            continue
        inserted = repo.insert_send(conn, **common, status=SendStatus.QUEUED)
        if inserted or repo.send_status(conn, sid) == SendStatus.QUEUED:
            enqueue(sid)


# --- effects ----------------------------------------------------------------------------------------------


def on_user_registered(envelope: EventEnvelope, conn: Connection) -> None:
    p = _payload(envelope)
    repo.upsert_recipient(conn, p.user_id, p.email, p.full_name)
    repo.ensure_preferences(conn, p.user_id, DEFAULT_PREFERENCES)
    notify(conn, envelope, "welcome_verify_email", p.user_id,
           {"verification_token_ref": str(p.verification_token_ref)})


def on_password_reset_requested(envelope: EventEnvelope, conn: Connection) -> None:
    p = _payload(envelope)
    # The event names the address; accounts that never registered themselves (a bootstrapped admin) get a
    # recipient row here, without touching a name the projection already has.
    repo.upsert_recipient(conn, p.user_id, p.email, keep_name=True)
    notify(conn, envelope, "password_reset", p.user_id, {"reset_token_ref": str(p.reset_token_ref)})


def on_course_published(envelope: EventEnvelope, conn: Connection) -> None:
    p = _payload(envelope)
    repo.upsert_course(conn, p.course_id, p.title, p.instructor_id)


def _course(conn: Connection, envelope: EventEnvelope, course_id: uuid.UUID) -> repo.CourseRecord:
    course = repo.get_course(conn, course_id)
    if course is None:
        raise ProjectionMissing(f"no course {course_id} yet for {envelope.event_type} {envelope.event_id}")
    return course


def on_enrollment_created(envelope: EventEnvelope, conn: Connection) -> None:
    p = _payload(envelope)
    url = course_url(p.course_id)
    notify(conn, envelope, "enrollment_confirmation", p.user_id, {COURSE_KEY: str(p.course_id), "course_url": url},
           link=url)


def on_certificate_issued(envelope: EventEnvelope, conn: Connection) -> None:
    p = _payload(envelope)
    url = certificate_url(p.serial_no)
    notify(conn, envelope, "course_completed", p.user_id,
           {COURSE_KEY: str(p.course_id), "serial_no": p.serial_no, "certificate_url": url}, link=url)


def on_processing_completed(envelope: EventEnvelope, conn: Connection) -> None:
    p = _payload(envelope)
    course = _course(conn, envelope, p.course_id)
    url = course_url(p.course_id)
    notify(conn, envelope, "course_processing_completed", course.instructor_id,
           {"course_title": course.title, "chunks": p.chunks, "embeddings": p.embeddings, "course_url": url},
           link=url)


def on_processing_failed(envelope: EventEnvelope, conn: Connection) -> None:
    p = _payload(envelope)
    course = _course(conn, envelope, p.course_id)
    url = course_url(p.course_id)
    notify(conn, envelope, "course_processing_failed", course.instructor_id,
           {"course_title": course.title, "error": p.error, "course_url": url}, link=url)


def on_nudge_requested(envelope: EventEnvelope, conn: Connection) -> None:
    # The event carries the course title (the analytics service knows it): no course projection needed. The
    # learner's address comes from the recipients projection when the sender delivers, as for every send.
    p = _payload(envelope)
    url = course_url(p.course_id)
    notify(conn, envelope, "instructor_nudge", p.user_id,
           {"course_title": p.course_title, "message": p.message, "course_url": url}, link=url)


def on_report_ready(envelope: EventEnvelope, conn: Connection) -> None:
    # The S3 key (download_key) stays out of the send: the link is the analytics API's report page.
    p = _payload(envelope)
    url = report_url(p.report_id)
    notify(conn, envelope, report_template(p.scheduled), p.owner_user_id,
           {"report_type": p.report_type, "period": report_period(p.period_from, p.period_to),
            "report_format": p.format.upper(), "report_url": url}, link=url)


EFFECTS: dict[str, Effect] = {
    "user.registered": on_user_registered,
    "user.password_reset_requested": on_password_reset_requested,
    "course.published": on_course_published,
    "enrollment.created": on_enrollment_created,
    "certificate.issued": on_certificate_issued,
    "course.processing_completed": on_processing_completed,
    "course.processing_failed": on_processing_failed,
    "learner.nudge_requested": on_nudge_requested,
    "report.ready": on_report_ready,
}
