"""Fuzzing every operation of the three APIs, as anonymous, learner, instructor and admin (schemathesis).

Each API is driven by the OpenAPI document it serves. The callers are accounts registered for this test
alone (fuzzing logs out, blocks users, deletes what it finds), each with ids of things it may touch so
the cases reach past "not found". Bounded and seeded for `make test`; `make fuzz` runs it long
(FUZZ_EXAMPLES per operation and caller, FUZZ_SECONDS per API and caller, FUZZ_SEED).
"""

from __future__ import annotations

import httpx
import pytest
from localcloud.cloud import LocalCloud

from tests.e2e.support import Account, login, register
from tests.support.fuzzing import Caller, FuzzReport, FuzzSettings, fuzz

APIS = ("lms", "ai", "analytics")
ROLES = ("anonymous", "learner", "instructor", "admin")


@pytest.fixture(scope="module")
def fuzz_accounts(http: httpx.Client, admin: Account) -> dict[str, Account]:
    learner = register(http, "student")
    instructor = register(http, "instructor")
    chief = register(http, "instructor")
    granted = http.post(f"/api/v1/admin/users/{chief.id}/roles/admin", headers=admin.headers)
    assert granted.status_code == 200, granted.text
    tokens = login(http, chief.email, chief.password)  # a token that carries the new role
    chief = Account(chief.id, chief.email, chief.password, tokens["access_token"], tokens["refresh_token"])
    return {"learner": learner, "instructor": instructor, "admin": chief}


@pytest.fixture(scope="module")
def known_ids(http: httpx.Client, fuzz_accounts: dict[str, Account]) -> dict[str, dict[str, str]]:
    """Per role, path parameter values that name things that exist (and that the role may act on)."""
    teacher, learner = fuzz_accounts["instructor"], fuzz_accounts["learner"]
    course = http.post("/api/v1/courses", json={"title": "Fuzzed course"}, headers=teacher.headers).json()
    module = http.post("/api/v1/modules", json={"course_id": course["id"], "title": "Fuzzed module"},
                       headers=teacher.headers).json()
    asset = http.post("/api/v1/assets", json={"module_id": module["id"], "title": "Fuzzed asset",
                                              "asset_type": "article"}, headers=teacher.headers).json()
    published = http.get("/api/v1/courses", params={"limit": 1}).json()["items"][0]
    enrollment = http.post("/api/v1/enrollments", json={"course_id": published["id"]}, headers=learner.headers)
    assert enrollment.status_code == 201, enrollment.text
    shared = {"course_id": course["id"], "module_id": module["id"], "asset_id": asset["id"],
              "prerequisite_id": published["id"], "enrollment_id": enrollment.json()["id"],
              "user_id": learner.id, "role": "instructor", "name": "welcome_verify_email"}
    return {"anonymous": {"course_id": published["id"]}, "learner": {**shared, "course_id": published["id"]},
            "instructor": shared, "admin": shared}


@pytest.mark.parametrize("api", APIS)
def test_no_server_error_nor_undocumented_status(cloud: LocalCloud, api: str, fuzz_accounts: dict[str, Account],
                                                 known_ids: dict[str, dict[str, str]]) -> None:
    base_url = cloud.api_urls[api]
    document = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
    options = FuzzSettings.from_env()
    reports: list[FuzzReport] = []
    for role in ROLES:
        account = fuzz_accounts.get(role)
        caller = Caller(role, account.token if account else None, known_ids[role])
        reports.append(fuzz(api, base_url, document, caller, options))
    summary = "\n".join(r.summary() for r in reports)
    print(f"\nfuzzing {api}:\n{summary}")
    failures = {f"{r.role} {key}": text for r in reports for key, text in r.failures.items()}
    assert not failures, f"{len(failures)} failures\n{summary}\n\n" + "\n\n".join(
        f"--- {key}\n{text}" for key, text in sorted(failures.items()))
    assert all(r.cases >= r.operations for r in reports)
