"""The LMS services as handlers get them: imported at init, the service modules only on the first call.

The service modules bring SQLAlchemy, the tables and the repositories (~150 ms of a cold start on a small
machine), which a handler's init must not pay for (``smartcourse.deferred``; primed before a SnapStart snapshot).
Each getter returns the service module's process-wide instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartcourse.deferred import defer

if TYPE_CHECKING:
    from smartcourse_lms.assets.service import AssetService
    from smartcourse_lms.auth.service import AuthService
    from smartcourse_lms.courses.service import CourseService
    from smartcourse_lms.enrollments.service import EnrollmentService

defer("smartcourse_lms.assets.service", "smartcourse_lms.auth.service", "smartcourse_lms.courses.service",
      "smartcourse_lms.enrollments.service", "smartcourse.db.engine")


def get_asset_service() -> AssetService:
    from smartcourse_lms.assets.service import get_asset_service as get

    return get()


def get_auth_service() -> AuthService:
    from smartcourse_lms.auth.service import get_auth_service as get

    return get()


def get_course_service() -> CourseService:
    from smartcourse_lms.courses.service import get_course_service as get

    return get()


def get_enrollment_service() -> EnrollmentService:
    from smartcourse_lms.enrollments.service import get_enrollment_service as get

    return get()
