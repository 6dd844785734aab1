"""Idempotency-Key over HTTP through the local cloud (gateway, authorizer, function workers, moto's DynamoDB).

The table each service stack declares is provisioned in the emulator from the synthesized template and
named to the functions through their environment, as in AWS.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from tests.e2e.support import Account, count, unique_email

pytestmark = pytest.mark.e2e

KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def test_a_retried_create_answers_the_first_course_and_creates_one(
        http: httpx.Client, instructor: Account, db: psycopg.Connection) -> None:
    title = f"Idempotent {uuid.uuid4().hex[:8]}"
    headers = {**instructor.headers, KEY: str(uuid.uuid4())}
    first = http.post("/api/v1/courses", json={"title": title}, headers=headers)
    second = http.post("/api/v1/courses", json={"title": title}, headers=headers)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert second.json() == first.json()
    assert second.headers.get(REPLAYED) == "true" and REPLAYED not in first.headers
    assert count(db, "SELECT count(*) FROM courses WHERE title = %s", title) == 1

    other = http.post("/api/v1/courses", json={"title": title + " (other)"}, headers=headers)
    assert other.status_code == 422 and other.json()["detail"][0]["loc"] == ["header", KEY]
    assert count(db, "SELECT count(*) FROM courses WHERE title LIKE %s", title + "%") == 1


def test_keys_are_scoped_to_the_caller(http: httpx.Client, instructor: Account, db: psycopg.Connection) -> None:
    from tests.e2e.support import register

    someone_else = register(http, "instructor")
    key = str(uuid.uuid4())
    title = f"Scoped {uuid.uuid4().hex[:8]}"
    mine = http.post("/api/v1/courses", json={"title": title}, headers={**instructor.headers, KEY: key})
    theirs = http.post("/api/v1/courses", json={"title": title}, headers={**someone_else.headers, KEY: key})
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"] and REPLAYED not in theirs.headers
    assert count(db, "SELECT count(*) FROM courses WHERE title = %s", title) == 2


def test_a_retried_registration_without_a_token_registers_once(http: httpx.Client, db: psycopg.Connection) -> None:
    email = unique_email("idem")
    body = {"email": email, "password": "Str0ng-pass", "full_name": "Retried Learner"}
    headers = {KEY: str(uuid.uuid4())}
    first = http.post("/api/v1/auth/register", json=body, headers=headers)
    second = http.post("/api/v1/auth/register", json=body, headers=headers)
    assert first.status_code == 201 and second.status_code == 201 and second.headers.get(REPLAYED) == "true"
    assert second.json() == first.json()
    assert count(db, "SELECT count(*) FROM users WHERE email = %s", email) == 1


def test_concurrent_duplicates_run_once(http: httpx.Client, instructor: Account, db: psycopg.Connection) -> None:
    title = f"Concurrent {uuid.uuid4().hex[:8]}"
    headers = {**instructor.headers, KEY: str(uuid.uuid4())}
    base_url = str(http.base_url)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            return client.post("/api/v1/courses", json={"title": title}, headers=headers)

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(post, range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    ran = [r for r in responses if r.status_code == 201 and REPLAYED not in r.headers]
    assert len(ran) == 1, statuses
    for r in responses:
        if r.status_code == 201:
            assert r.json() == ran[0].json()
        else:
            assert r.headers.get("Retry-After") == "1"
    assert count(db, "SELECT count(*) FROM courses WHERE title = %s", title) == 1
    # Once the first has answered, every retry gets its answer.
    retry = http.post("/api/v1/courses", json={"title": title}, headers=headers)
    assert retry.status_code == 201 and retry.json() == ran[0].json()


def test_a_malformed_key_is_422_before_anything_runs(http: httpx.Client, instructor: Account,
                                                     db: psycopg.Connection) -> None:
    title = f"Bad key {uuid.uuid4().hex[:8]}"
    response = http.post("/api/v1/courses", json={"title": title}, headers={**instructor.headers, KEY: "x" * 256})
    assert response.status_code == 422
    assert count(db, "SELECT count(*) FROM courses WHERE title = %s", title) == 0
