"""The function catalogue: one declaration per Lambda function.

This is the single source of truth for what a function is: its handler, its
trigger (HTTP route(s), Kafka topics, SQS queue or schedule), its settings and
the resources it may touch. The CDK stacks build functions, routes, event
source mappings and IAM grants from it; handlers take their route from it; the
local runner reads the *synthesized* template that the stacks produced, so no
second route table exists anywhere.

Pure data, no I/O and no AWS imports: it is imported by Lambda handlers on the
hot path and by the CDK app alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from smartcourse_events import topics


class Service(StrEnum):
    LMS = "lms"
    AI = "ai"
    ANALYTICS = "analytics"
    NOTIFICATION = "notification"
    PLATFORM = "platform"


class Grant(StrEnum):
    """Resources a function may use; the stacks turn each into least-privilege IAM."""

    DATABASE = "database"  # read the service's DB credentials secret, connect to the DB
    JWT_SIGNING_KEY = "jwt-signing-key"  # read the JWT signing secret
    OUTBOX_NUDGE = "outbox-nudge"  # invoke the outbox publisher asynchronously
    CONTENT_BUCKET = "content-bucket"  # read/write objects under courses/* of the content bucket
    CERTIFICATE_BUCKET = "certificate-bucket"  # read/write objects under certificates/* of the certificates bucket
    KAFKA_PRODUCE = "kafka-produce"  # connect to the event cluster and write to the event topics (MSK IAM)
    NOTIFICATION_QUEUE = "notification-queue"  # send messages to the notification send queue
    EMAIL = "email"  # send email through SES from the stage's sender identity
    SMS = "sms"  # publish SMS through SNS and check phone-number opt-outs
    ISSUE_ONE_TIME_TOKEN = "issue-one-time-token"  # noqa: S105 - invoke lms-auth-issue-one-time-token
    KAFKA_TOPICS = "kafka-topics"  # connect to the event cluster and create/describe the event topics (deploy)


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str  # API Gateway style: /api/v1/admin/users/{user_id}
    authorized: bool = True  # behind the Lambda authorizer
    # Also open to callers without a token ("anyone" in the API contract): served through the
    # uncached optional authorizer, which passes an anonymous principal when no token is sent.
    anonymous: bool = False

    @property
    def resolver_path(self) -> str:
        """The same path in Powertools' resolver syntax (``<param>``)."""
        return self.path.replace("{", "<").replace("}", ">")


@dataclass(frozen=True)
class KafkaTrigger:
    topics: tuple[str, ...]
    batch_size: int = 100
    starting_position: str = "TRIM_HORIZON"


@dataclass(frozen=True)
class SqsTrigger:
    queue: str  # logical queue name, declared by the service's stack
    batch_size: int = 10
    report_batch_item_failures: bool = True


@dataclass(frozen=True)
class ScheduleTrigger:
    expression: str  # e.g. "rate(1 minute)", "cron(0 6 * * ? *)"


@dataclass(frozen=True)
class Function:
    name: str  # unique, kebab-case: "lms-auth-register"
    service: Service
    handler: str  # module path under functions/ + ".handler": "lms.auth.register.handler"
    description: str
    routes: tuple[HttpRoute, ...] = ()
    kafka: KafkaTrigger | None = None
    sqs: SqsTrigger | None = None
    schedule: ScheduleTrigger | None = None
    grants: frozenset[Grant] = field(default_factory=frozenset)
    timeout_seconds: int = 10
    memory_mb: int = 512
    # The REST API serving ``routes`` when it is not the owner's own (notification routes are on the LMS API).
    api: Service | None = None
    # A cap of the function's own, whatever the stage (None: the stage decides).
    reserved_concurrency: int | None = None

    @property
    def api_service(self) -> Service:
        return self.api or self.service

    @property
    def route(self) -> HttpRoute:
        """The function's single route (one Lambda per endpoint)."""
        if len(self.routes) != 1:
            raise ValueError(f"{self.name} has {len(self.routes)} routes, not one")
        return self.routes[0]

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]


_DB = frozenset({Grant.DATABASE})
_DB_JWT = frozenset({Grant.DATABASE, Grant.JWT_SIGNING_KEY})


def _lms(name: str, method: str, path: str, description: str, *, authorized: bool = True,
         anonymous: bool = False, grants: frozenset[Grant] = _DB, module: str | None = None) -> Function:
    if method != "GET":
        # Writes may emit events (outbox rows); the nudge publishes them right after the commit.
        grants = grants | {Grant.OUTBOX_NUDGE}
    return Function(
        name=f"lms-{name}",
        service=Service.LMS,
        handler=f"lms.{module or name.replace('-', '_')}.handler",
        description=description,
        routes=(HttpRoute(method, f"/api/v1{path}", authorized, anonymous),),
        grants=grants,
    )


AUTHORIZER = Function(
    name="platform-authorizer",
    service=Service.PLATFORM,
    handler="platform_fns.authorizer.handler",
    description="API Gateway REQUEST authorizer: validates the access JWT, passes user id and roles",
    grants=frozenset({Grant.DATABASE, Grant.JWT_SIGNING_KEY}),
    timeout_seconds=5,
    memory_mb=256,
)

MIGRATE = Function(
    name="platform-migrate",
    service=Service.PLATFORM,
    handler="platform_fns.migrate.handler",
    description="Runs Alembic migrations of every service database on deploy",
    grants=_DB,
    timeout_seconds=300,
)

KAFKA_TOPICS = Function(
    name="platform-kafka-topics",
    service=Service.PLATFORM,
    handler="platform_fns.kafka_topics.handler",
    description="Custom resource: creates the event topics on the Kafka cluster on deploy (idempotent)",
    grants=frozenset({Grant.KAFKA_TOPICS}),
    timeout_seconds=120,
)


def _health(service: Service) -> Function:
    return Function(
        name=f"{service}-health",
        service=service,
        handler="platform_fns.health.handler",
        description=f"Liveness of the {service} API",
        routes=(HttpRoute("GET", "/health", authorized=False),),
        timeout_seconds=3,
        memory_mb=128,
    )


def _docs(service: Service) -> Function:
    return Function(
        name=f"{service}-docs",
        service=service,
        handler="platform_fns.docs.handler",
        description=f"OpenAPI document and Swagger UI of the {service} API",
        routes=(
            HttpRoute("GET", "/openapi.json", authorized=False),
            HttpRoute("GET", "/docs", authorized=False),
            HttpRoute("GET", "/docs.js", authorized=False),
            HttpRoute("GET", "/docs.css", authorized=False),
        ),
        memory_mb=256,
    )


LMS_FUNCTIONS: tuple[Function, ...] = (
    _health(Service.LMS),
    _docs(Service.LMS),
    # Auth
    _lms("auth-register", "POST", "/auth/register", "Register a student or instructor", authorized=False,
         module="auth.register"),
    _lms("auth-login", "POST", "/auth/login", "Log in (OAuth2 password form or JSON)", authorized=False,
         grants=_DB_JWT, module="auth.login"),
    _lms("auth-refresh", "POST", "/auth/refresh", "Rotate a refresh token", authorized=False,
         grants=_DB_JWT, module="auth.refresh"),
    _lms("auth-logout", "POST", "/auth/logout", "Revoke a refresh token", module="auth.logout"),
    _lms("auth-me", "GET", "/auth/me", "The caller's profile", module="auth.me"),
    _lms("auth-verify-email", "POST", "/auth/verify-email", "Verify an email address", authorized=False,
         module="auth.verify_email"),
    _lms("auth-password-forgot", "POST", "/auth/password/forgot", "Request a password reset",
         authorized=False, module="auth.password_forgot"),
    _lms("auth-password-reset", "POST", "/auth/password/reset", "Reset a password with a token",
         authorized=False, module="auth.password_reset"),
    # Admin
    _lms("admin-list-users", "GET", "/admin/users", "List users (admin)", module="admin.list_users"),
    _lms("admin-update-user", "PATCH", "/admin/users/{user_id}", "Block/unblock or rename a user (admin)",
         module="admin.update_user"),
    _lms("admin-grant-role", "POST", "/admin/users/{user_id}/roles/{role}", "Grant a role (admin)",
         module="admin.grant_role"),
    _lms("admin-revoke-role", "DELETE", "/admin/users/{user_id}/roles/{role}", "Revoke a role (admin)",
         module="admin.revoke_role"),
    # Courses (PUT and PATCH are two functions sharing one handler module: one function per endpoint)
    _lms("courses-create", "POST", "/courses", "Create a draft course (instructor, admin)", module="courses.create"),
    _lms("courses-list", "GET", "/courses", "List courses: published, or the caller's by status; paginated",
         anonymous=True, module="courses.list_courses"),
    _lms("courses-get", "GET", "/courses/{course_id}", "A course with its module and enrollment counts",
         anonymous=True, module="courses.get"),
    _lms("courses-put", "PUT", "/courses/{course_id}", "Update a course (partial body; staff)",
         module="courses.update"),
    _lms("courses-patch", "PATCH", "/courses/{course_id}", "Update a course (partial body; staff)",
         module="courses.update"),
    _lms("courses-delete", "DELETE", "/courses/{course_id}", "Delete a never-enrolled course (staff)",
         module="courses.delete"),
    _lms("courses-publish", "POST", "/courses/{course_id}/publish", "Publish a draft course (staff)",
         module="courses.publish"),
    _lms("courses-archive", "POST", "/courses/{course_id}/archive", "Archive a course (staff)",
         module="courses.archive"),
    _lms("courses-list-prerequisites", "GET", "/courses/{course_id}/prerequisites",
         "Prerequisite courses of a course", anonymous=True, module="courses.list_prerequisites"),
    _lms("courses-add-prerequisite", "POST", "/courses/{course_id}/prerequisites/{prerequisite_id}",
         "Add a prerequisite (staff; idempotent)", module="courses.add_prerequisite"),
    _lms("courses-remove-prerequisite", "DELETE", "/courses/{course_id}/prerequisites/{prerequisite_id}",
         "Remove a prerequisite (staff; idempotent)", module="courses.remove_prerequisite"),
    # Modules
    _lms("modules-create", "POST", "/modules", "Add a module to a course (staff)", module="modules.create"),
    _lms("modules-list-by-course", "GET", "/modules/by-course/{course_id}", "Modules of a course, in order",
         anonymous=True, module="modules.list_by_course"),
    _lms("modules-get", "GET", "/modules/{module_id}", "A module", anonymous=True, module="modules.get"),
    _lms("modules-put", "PUT", "/modules/{module_id}", "Update a module (partial body; staff)",
         module="modules.update"),
    _lms("modules-patch", "PATCH", "/modules/{module_id}", "Update a module (partial body; staff)",
         module="modules.update"),
    _lms("modules-delete", "DELETE", "/modules/{module_id}", "Delete a module and its assets (staff)",
         module="modules.delete"),
    # Enrollments, progress and certificates (those that render or link certificates get the certificate bucket)
    _lms("enrollments-create", "POST", "/enrollments", "Enroll (self; staff/admin may enroll others)",
         module="enrollments.create"),
    _lms("enrollments-me", "GET", "/enrollments/me", "The caller's enrollments with course title and progress",
         module="enrollments.list_mine"),
    _lms("enrollments-get", "GET", "/enrollments/{enrollment_id}", "An enrollment (learner, course staff)",
         module="enrollments.get"),
    _lms("enrollments-list-by-user", "GET", "/enrollments/user/{user_id}", "A user's enrollments (self, admin)",
         module="enrollments.list_by_user"),
    _lms("enrollments-list-by-course", "GET", "/enrollments/course/{course_id}",
         "A course's enrollments (staff; paginated, ?status=)", module="enrollments.list_by_course"),
    _lms("enrollments-put", "PUT", "/enrollments/{enrollment_id}", "Change an enrollment's status (learner, admin)",
         module="enrollments.update"),
    _lms("enrollments-patch", "PATCH", "/enrollments/{enrollment_id}",
         "Change an enrollment's status (learner, admin)", module="enrollments.update"),
    _lms("enrollments-delete", "DELETE", "/enrollments/{enrollment_id}", "Delete an enrollment (admin)",
         module="enrollments.delete"),
    _lms("progress-record", "POST", "/progress/assets/{asset_id}",
         "Record progress on an asset (learner, admin); completes the course and issues the certificate",
         grants=frozenset({Grant.DATABASE, Grant.CERTIFICATE_BUCKET}), module="progress.record"),
    _lms("progress-get-asset", "GET", "/progress/assets/{asset_id}/enrollment/{enrollment_id}",
         "A learner's progress on one asset (learner, course staff)", module="progress.get_asset"),
    _lms("progress-get-course", "GET", "/progress/courses/{course_id}/enrollment/{enrollment_id}",
         "A learner's progress in a course, per module and asset (learner, course staff)",
         module="progress.get_course"),
    _lms("certificates-me", "GET", "/certificates/me", "The caller's certificates",
         grants=frozenset({Grant.DATABASE, Grant.CERTIFICATE_BUCKET}), module="certificates.list_mine"),
    _lms("certificates-get", "GET", "/certificates/{certificate_id}",
         "A certificate with a link to its document (learner, course staff)",
         grants=frozenset({Grant.DATABASE, Grant.CERTIFICATE_BUCKET}), module="certificates.get"),
    _lms("certificates-verify", "GET", "/certificates/verify/{serial_no}", "Verify a certificate serial (public)",
         authorized=False, module="certificates.verify"),
    # Learning assets (the S3-touching ones also get the content bucket)
    _lms("assets-create", "POST", "/assets", "Add an asset to a module (staff)", module="assets.create"),
    _lms("assets-list-by-module", "GET", "/assets/by-module/{module_id}", "Assets of a module, in order",
         anonymous=True, module="assets.list_by_module"),
    _lms("assets-get", "GET", "/assets/{asset_id}", "An asset (with its content URL for staff and learners)",
         anonymous=True, grants=frozenset({Grant.DATABASE, Grant.CONTENT_BUCKET}), module="assets.get"),
    _lms("assets-put", "PUT", "/assets/{asset_id}", "Update an asset (partial body; staff)", module="assets.update"),
    _lms("assets-patch", "PATCH", "/assets/{asset_id}", "Update an asset (partial body; staff)",
         module="assets.update"),
    _lms("assets-delete", "DELETE", "/assets/{asset_id}", "Delete an asset (staff)", module="assets.delete"),
    _lms("assets-upload-url", "POST", "/assets/{asset_id}/content/upload-url",
         "Presigned S3 upload of an article's content (staff)",
         grants=frozenset({Grant.DATABASE, Grant.CONTENT_BUCKET}), module="assets.upload_url"),
    _lms("assets-complete-upload", "POST", "/assets/{asset_id}/content/complete",
         "Validate uploaded article content (staff)",
         grants=frozenset({Grant.DATABASE, Grant.CONTENT_BUCKET}), module="assets.complete_upload"),
    _lms("assets-get-content", "GET", "/assets/{asset_id}/content",
         "Where to read an asset's content (staff, enrolled students)",
         grants=frozenset({Grant.DATABASE, Grant.CONTENT_BUCKET}), module="assets.get_content"),
)

# LMS functions without a route, invoked by other services.
LMS_INTERNAL_FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="lms-auth-issue-one-time-token",
        service=Service.LMS,
        handler="lms.auth.issue_one_time_token.handler",
        description="Mint the clear email-verification / password-reset token behind an event's token ref",
        grants=_DB,
    ),
)

# Event-driven functions: Kafka consumers, SQS workers, scheduled jobs (no route).
LMS_OUTBOX_PUBLISHER = Function(
    name="lms-outbox-publisher",
    service=Service.LMS,
    handler="platform_fns.outbox_publisher.handler",
    description="Publishes due outbox rows of the LMS database to Kafka (scheduled backstop, nudged after commits)",
    schedule=ScheduleTrigger("rate(1 minute)"),
    grants=frozenset({Grant.DATABASE, Grant.KAFKA_PRODUCE}),
    timeout_seconds=60,
    # Every commit with events nudges it: a burst of writes must not become a burst of publishers (each a
    # broker connection and a SKIP LOCKED scan); two drain as fast as one batch loop can, the rest queue.
    reserved_concurrency=2,
)

LMS_EVENT_FUNCTIONS: tuple[Function, ...] = (
    LMS_OUTBOX_PUBLISHER,
    Function(
        name="lms-consume-course-processing",
        service=Service.LMS,
        handler="lms.consumers.course_processing.handler",
        description="Applies course.processing_completed / course.processing_failed to the course's processing_status",
        kafka=KafkaTrigger(topics=(topics.COURSE_EVENTS,)),
        grants=_DB,
        timeout_seconds=60,
    ),
)

NOTIFICATION_SEND_QUEUE = "notification-sends"


def _notification_api(name: str, method: str, path: str, description: str, *,
                      grants: frozenset[Grant] = _DB) -> Function:
    return Function(
        name=f"notification-{name}",
        service=Service.NOTIFICATION,
        handler=f"notification.{name.replace('-', '_')}.handler",
        description=description,
        routes=(HttpRoute(method, f"/api/v1/notifications{path}"),),
        grants=grants,
        api=Service.LMS,
    )


NOTIFICATION_API_FUNCTIONS: tuple[Function, ...] = (
    _notification_api("list-mine", "GET", "/me", "The caller's in-app notifications, newest first (?unread=true)"),
    _notification_api("mark-read", "POST", "/{notification_id}/read", "Mark one of the caller's notifications read"),
    _notification_api("get-preferences", "GET", "/preferences", "The caller's notification preferences"),
    _notification_api("update-preferences", "PUT", "/preferences", "Replace the caller's notification preferences"),
    _notification_api("list-templates", "GET", "/templates", "Templates, their channels and variables (admin)",
                      grants=frozenset()),
    _notification_api("preview-template", "POST", "/templates/{name}/preview",
                      "Render a template with a sample context (admin)", grants=frozenset()),
)

NOTIFICATION_EVENT_FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="notification-consume-events",
        service=Service.NOTIFICATION,
        handler="notification.consume_events.handler",
        description="Turns user, course, enrollment and certificate events into sends (email, SMS, in-app)",
        kafka=KafkaTrigger(topics=(topics.USER_EVENTS, topics.COURSE_EVENTS, topics.ENROLLMENT_EVENTS)),
        grants=frozenset({Grant.DATABASE, Grant.NOTIFICATION_QUEUE}),
        timeout_seconds=60,
    ),
    Function(
        name="notification-send",
        service=Service.NOTIFICATION,
        handler="notification.send.handler",
        description="Delivers queued sends through SES (email) and SNS (SMS); partial batch responses",
        sqs=SqsTrigger(queue=NOTIFICATION_SEND_QUEUE, batch_size=10),
        grants=frozenset({Grant.DATABASE, Grant.EMAIL, Grant.SMS, Grant.ISSUE_ONE_TIME_TOKEN}),
        # Room for a batch: a record is only started with its worst case (~29 s, sender.RECORD_WORST_CASE_MS) left.
        timeout_seconds=90,
    ),
)

# Functions serving routes, by the REST API that serves them (notification routes are on the LMS API).
API_FUNCTIONS: dict[Service, tuple[Function, ...]] = {Service.LMS: (*LMS_FUNCTIONS, *NOTIFICATION_API_FUNCTIONS)}
INTERNAL_FUNCTIONS: dict[Service, tuple[Function, ...]] = {Service.LMS: LMS_INTERNAL_FUNCTIONS}
EVENT_FUNCTIONS: dict[Service, tuple[Function, ...]] = {
    Service.LMS: LMS_EVENT_FUNCTIONS,
    Service.NOTIFICATION: NOTIFICATION_EVENT_FUNCTIONS,
}

# The outbox publisher of each service that writes events (OUTBOX_NUDGE invokes it).
OUTBOX_PUBLISHERS: dict[Service, Function] = {Service.LMS: LMS_OUTBOX_PUBLISHER}

PLATFORM_FUNCTIONS: tuple[Function, ...] = (AUTHORIZER, MIGRATE, KAFKA_TOPICS)

ALL_FUNCTIONS: tuple[Function, ...] = (
    *PLATFORM_FUNCTIONS,
    *(f for fs in API_FUNCTIONS.values() for f in fs),
    *(f for fs in INTERNAL_FUNCTIONS.values() for f in fs),
    *(f for fs in EVENT_FUNCTIONS.values() for f in fs),
)

_BY_NAME = {f.name: f for f in ALL_FUNCTIONS}


def function(name: str) -> Function:
    return _BY_NAME[name]
