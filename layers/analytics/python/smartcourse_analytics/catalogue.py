"""The Analytics service's functions: its API (learner, course, at-risk, instructor and platform figures,
nudges, reports), its consumer (facts and roll-ups), the event archiver, the report builder and the two
report schedules, the archive replay and its outbox publisher. One declaration each (``smartcourse.catalogue``).
"""

from __future__ import annotations

from smartcourse.catalogue import (
    Function,
    Grant,
    HttpRoute,
    KafkaTrigger,
    ScheduleTrigger,
    Service,
    ServiceCatalogue,
    SqsTrigger,
    docs_function,
    health_function,
    outbox_publisher_function,
)
from smartcourse.links import API_PREFIX

REPORT_QUEUE = "analytics-reports"

# The event types the read models are built from (events.md: "Consumers: analytics"), and the analytics
# service's own nudges (so a rebuild from the archive restores them too).
CONSUMED_EVENT_TYPES: tuple[str, ...] = (
    "user.registered", "user.email_verified", "user.role_changed",
    "course.created", "course.published", "course.archived",
    "enrollment.created", "enrollment.dropped", "enrollment.completed", "certificate.issued",
    "progress.updated", "learner.nudge_requested",
)
_DB = frozenset({Grant.DATABASE})
_PATH = f"{API_PREFIX}/analytics"


def _analytics(name: str, method: str, path: str, description: str, *, grants: frozenset[Grant] = _DB,
               memory_mb: int = 512, timeout_seconds: int = 10) -> Function:
    return Function(
        name=f"analytics-{name}",
        service=Service.ANALYTICS,
        handler=f"analytics.{name.replace('-', '_')}.handler",
        description=description,
        routes=(HttpRoute(method, f"{_PATH}{path}"),),
        grants=grants,
        memory_mb=memory_mb,
        timeout_seconds=timeout_seconds,
    )


API_FUNCTIONS: tuple[Function, ...] = (
    health_function(Service.ANALYTICS),
    docs_function(Service.ANALYTICS),
    _analytics("me-progress", "GET", "/me/progress", "The caller's progress, time, streak and percentiles"),
    _analytics("course", "GET", "/courses/{course_id}", "A course's enrollments, completion, progress, activity "
               "and module funnel in a period (staff)"),
    _analytics("course-learners", "GET", "/courses/{course_id}/learners", "Per-learner drill-down (staff)"),
    _analytics("at-risk", "GET", "/courses/{course_id}/at-risk", "Learners at risk, why, and their nudges (staff)"),
    _analytics("nudge", "POST", "/courses/{course_id}/at-risk/nudge", "Nudge learners of the course (staff; 202)",
               grants=frozenset({Grant.DATABASE, Grant.OUTBOX_NUDGE})),
    _analytics("instructor-overview", "GET", "/instructors/me", "Headline figures of each of the caller's courses"),
    _analytics("platform", "GET", "/platform", "Users, DAU/WAU/MAU, enrollments and completions per day, top "
               "courses (admin)"),
    _analytics("reports-create", "POST", "/reports", "Request a course, instructor or platform report (202)",
               grants=frozenset({Grant.DATABASE, Grant.ANALYTICS_REPORT_QUEUE})),
    _analytics("reports-list", "GET", "/reports", "The caller's reports, newest first",
               grants=frozenset({Grant.DATABASE, Grant.ANALYTICS_REPORTS_READ})),
    _analytics("reports-get", "GET", "/reports/{report_id}", "One of the caller's reports (a fresh download_url)",
               grants=frozenset({Grant.DATABASE, Grant.ANALYTICS_REPORTS_READ})),
)

OUTBOX_PUBLISHER = outbox_publisher_function(Service.ANALYTICS)

EVENT_FUNCTIONS: tuple[Function, ...] = (
    OUTBOX_PUBLISHER,
    Function(
        name="analytics-consume-events",
        service=Service.ANALYTICS,
        handler="analytics.consume_events.handler",
        description="Writes user, course, enrollment, progress and nudge events into facts and roll-ups",
        kafka=KafkaTrigger(event_types=CONSUMED_EVENT_TYPES, batch_size=500),
        grants=_DB,
        memory_mb=1024,
        timeout_seconds=120,
    ),
    Function(
        name="analytics-archive-events",
        service=Service.ANALYTICS,
        handler="analytics.archive_events.handler",
        description="Archives every event to S3 (gzip JSON Lines by topic and date), once per event id",
        kafka=KafkaTrigger(event_types=(), every_topic=True, batch_size=1000),
        grants=frozenset({Grant.DATABASE, Grant.EVENT_ARCHIVE}),
        timeout_seconds=120,
    ),
    Function(
        name="analytics-build-report",
        service=Service.ANALYTICS,
        handler="analytics.build_report.handler",
        description="Builds a queued report (HTML with SVG charts, or CSV) into the reports bucket; report.ready",
        sqs=SqsTrigger(queue=REPORT_QUEUE, batch_size=1),
        grants=frozenset({Grant.DATABASE, Grant.ANALYTICS_REPORTS_BUCKET, Grant.OUTBOX_NUDGE}),
        memory_mb=1024,
        timeout_seconds=120,
    ),
    Function(
        name="analytics-weekly-digests",
        service=Service.ANALYTICS,
        handler="analytics.scheduled_reports.weekly_digests",
        description="Queues each instructor's weekly digest (Mondays 07:00 UTC)",
        schedule=ScheduleTrigger("cron(0 7 ? * MON *)"),
        grants=frozenset({Grant.DATABASE, Grant.ANALYTICS_REPORT_QUEUE}),
        timeout_seconds=60,
    ),
    Function(
        name="analytics-daily-platform-report",
        service=Service.ANALYTICS,
        handler="analytics.scheduled_reports.daily_platform_report",
        description="Queues the daily platform report for each admin (06:00 UTC)",
        schedule=ScheduleTrigger("cron(0 6 * * ? *)"),
        grants=frozenset({Grant.DATABASE, Grant.ANALYTICS_REPORT_QUEUE}),
        timeout_seconds=60,
    ),
    Function(
        name="analytics-replay",
        service=Service.ANALYTICS,
        handler="analytics.replay.handler",
        description="Rebuilds the analytics read models from the event archive (invoked by an operator)",
        grants=frozenset({Grant.DATABASE, Grant.EVENT_ARCHIVE_READ}),
        memory_mb=1024,
        timeout_seconds=900,
    ),
)

CATALOGUE = ServiceCatalogue(Service.ANALYTICS, (*API_FUNCTIONS, *EVENT_FUNCTIONS), outbox_publisher=OUTBOX_PUBLISHER)
function = CATALOGUE.function
