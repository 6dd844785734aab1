"""Cold start per function, measured by the runner as Lambda reports it.

Before each round every idle worker is reaped, then one representative request
per endpoint goes through the gateway: the runner's worker reports its init
duration (interpreter start excluded: import + module init, like Lambda's
"Init Duration"), and the first invocation's duration and the client-side time
of the whole cold request are kept too. Medians over the rounds.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx
from localcloud.cloud import LocalCloud


@dataclass
class ColdStart:
    function: str
    init_ms: float
    first_invoke_ms: float
    cold_request_ms: float


@dataclass(frozen=True)
class LmsTargets:
    """Ids for the LMS domain's cold requests: a published course with its module and asset, another course
    (``enroll_course_id``) to enroll the student in, and the student's active enrollment in the first one."""

    course_id: str
    module_id: str
    asset_id: str
    enrollment_id: str
    enroll_course_id: str


def _lms_requests(student_id: str, t: LmsTargets, round_no: int) -> list[tuple[str, str, str, dict[str, Any] | None,
                                                                                bool]]:
    return [
        ("lms-courses-list", "GET", "/api/v1/courses", None, True),
        ("lms-courses-get", "GET", f"/api/v1/courses/{t.course_id}", None, True),
        ("lms-modules-list-by-course", "GET", f"/api/v1/modules/by-course/{t.course_id}", None, True),
        ("lms-modules-get", "GET", f"/api/v1/modules/{t.module_id}", None, True),
        ("lms-assets-list-by-module", "GET", f"/api/v1/assets/by-module/{t.module_id}", None, True),
        ("lms-assets-get", "GET", f"/api/v1/assets/{t.asset_id}", None, True),
        ("lms-enrollments-create", "POST", "/api/v1/enrollments",
         {"course_id": t.enroll_course_id, "user_id": student_id}, True),
        ("lms-enrollments-me", "GET", "/api/v1/enrollments/me", None, True),
        ("lms-progress-record", "POST", f"/api/v1/progress/assets/{t.asset_id}",
         {"enrollment_id": t.enrollment_id, "progress_percent": min(99, 10 * (round_no + 1))}, True),
        ("lms-progress-get-course", "GET", f"/api/v1/progress/courses/{t.course_id}/enrollment/{t.enrollment_id}",
         None, True),
        ("lms-certificates-me", "GET", "/api/v1/certificates/me", None, True),
        ("lms-certificates-verify", "GET", "/api/v1/certificates/verify/BENCH-UNKNOWN", None, False),
    ]


def _requests(student_id: str, lms: LmsTargets | None = None, round_no: int = 0,
              ) -> list[tuple[str, str, str, dict[str, Any] | None, bool]]:
    """(function, method, path, json body, needs the admin token): a request on each function's main path."""
    email = f"cold-{uuid.uuid4().hex[:8]}@bench.smartcourse.local"
    lms_requests = _lms_requests(student_id, lms, round_no) if lms is not None else []
    return [
        ("lms-health", "GET", "/health", None, False),
        ("lms-auth-register", "POST", "/api/v1/auth/register", {"email": email, "password": "Cold-pass-123"}, False),
        ("lms-auth-refresh", "POST", "/api/v1/auth/refresh", {"refresh_token": "not-a-token"}, False),
        ("lms-auth-verify-email", "POST", "/api/v1/auth/verify-email", {"token": "not-a-token"}, False),
        ("lms-auth-password-forgot", "POST", "/api/v1/auth/password/forgot", {"email": email}, False),
        ("lms-auth-password-reset", "POST", "/api/v1/auth/password/reset",
         {"token": "not-a-token", "new_password": "Cold-pass-456"}, False),
        ("lms-auth-me", "GET", "/api/v1/auth/me", None, True),
        ("lms-auth-logout", "POST", "/api/v1/auth/logout", {"refresh_token": "not-a-token"}, True),
        ("lms-admin-list-users", "GET", "/api/v1/admin/users", None, True),
        ("lms-admin-update-user", "PATCH", f"/api/v1/admin/users/{student_id}", {"full_name": "Cold Start"}, True),
        ("lms-admin-grant-role", "POST", f"/api/v1/admin/users/{student_id}/roles/instructor", None, True),
        ("lms-admin-revoke-role", "DELETE", f"/api/v1/admin/users/{student_id}/roles/instructor", None, True),
        ("lms-docs", "GET", "/openapi.json", None, False),
        *lms_requests,
    ]


def _reap_all(cloud: LocalCloud) -> None:
    for pool in cloud.runner.functions.pools.values():
        pool.reap(-1.0)


def measure(cloud: LocalCloud, admin: tuple[str, str], student_id: str, rounds: int = 5,
            lms: LmsTargets | None = None) -> list[ColdStart]:
    samples: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    with httpx.Client(base_url=cloud.api_urls["lms"], timeout=60) as http:
        for round_no in range(rounds):
            _reap_all(cloud)
            started = time.perf_counter()
            login = http.post("/api/v1/auth/login", json={"email": admin[0], "password": admin[1]})
            _record(cloud, samples, "lms-auth-login", (time.perf_counter() - started) * 1000)
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            first_authorized = True
            for name, method, path, body, authorized in _requests(student_id, lms, round_no):
                started = time.perf_counter()
                response = http.request(method, path, json=body, headers=headers if authorized else {})
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code < 500, (name, response.status_code, response.text)
                if authorized and first_authorized:
                    _record(cloud, samples, "lms-authorizer", elapsed)
                    first_authorized = False
                _record(cloud, samples, name, elapsed)
    return [
        ColdStart(name, statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs),
                  statistics.median(s[2] for s in runs))
        for name, runs in samples.items()
    ]


def _record(cloud: LocalCloud, samples: dict[str, list[tuple[float, float, float]]], name: str,
            elapsed_ms: float) -> None:
    pool = cloud.runner.functions.pools[cloud.runner.function_key(name)]
    stats = pool.stats
    if stats.init_ms and len(samples[name]) < stats.cold_starts:
        samples[name].append((stats.init_ms[-1], stats.duration_ms[-1] if stats.duration_ms else 0.0, elapsed_ms))
