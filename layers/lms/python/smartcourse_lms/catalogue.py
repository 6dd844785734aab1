"""The LMS service's functions: its API (auth, admin, courses, modules, assets, enrollments, progress,
certificates), the API Gateway authorizer every API shares, the token issuer the notification service
invokes, the quiz saver the AI service invokes, its outbox publisher and its consumer. One declaration each
(``smartcourse.catalogue`` types).
"""

from __future__ import annotations

from smartcourse.catalogue import (
    Function,
    Grant,
    HttpRoute,
    KafkaTrigger,
    Service,
    ServiceCatalogue,
    docs_function,
    health_function,
    outbox_publisher_function,
)
from smartcourse.links import API_PREFIX, CERTIFICATE_VERIFY_PATH

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
        routes=(HttpRoute(method, f"{API_PREFIX}{path}", authorized, anonymous),),
        grants=grants,
    )


AUTHORIZER = Function(
    name="lms-authorizer",
    service=Service.LMS,
    handler="lms.auth.authorizer.handler",
    description="API Gateway REQUEST authorizer: validates the access JWT, passes user id and roles",
    grants=frozenset({Grant.DATABASE, Grant.JWT_SIGNING_KEY}),
    timeout_seconds=5,
    memory_mb=256,
)

API_FUNCTIONS: tuple[Function, ...] = (
    health_function(Service.LMS),
    docs_function(Service.LMS),
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
    _lms("certificates-verify", "GET", CERTIFICATE_VERIFY_PATH, "Verify a certificate serial (public)",
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
INTERNAL_FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="lms-auth-issue-one-time-token",
        service=Service.LMS,
        handler="lms.auth.issue_one_time_token.handler",
        description="Mint the clear email-verification / password-reset token behind an event's token ref",
        grants=_DB,
    ),
    Function(
        name="lms-assets-save-quiz",
        service=Service.LMS,
        handler="lms.assets.save_quiz.handler",
        description="Save an AI-generated quiz as a quiz asset of a module, under the LMS's staff rules",
        grants=frozenset({Grant.DATABASE, Grant.CONTENT_BUCKET}),
    ),
)

# Event-driven functions: Kafka consumers, SQS workers, scheduled jobs (no route).
OUTBOX_PUBLISHER = outbox_publisher_function(Service.LMS)

EVENT_FUNCTIONS: tuple[Function, ...] = (
    OUTBOX_PUBLISHER,
    Function(
        name="lms-consume-course-processing",
        service=Service.LMS,
        handler="lms.consumers.course_processing.handler",
        description="Applies course.processing_completed / course.processing_failed to the course's processing_status",
        kafka=KafkaTrigger(event_types=("course.processing_completed", "course.processing_failed")),
        grants=_DB,
        timeout_seconds=60,
    ),
)

CATALOGUE = ServiceCatalogue(
    Service.LMS,
    (AUTHORIZER, *API_FUNCTIONS, *INTERNAL_FUNCTIONS, *EVENT_FUNCTIONS),
    outbox_publisher=OUTBOX_PUBLISHER,
)
function = CATALOGUE.function
