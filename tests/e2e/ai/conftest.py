"""Fixtures of the AI e2e tests: the AI API's client, its database, and a course published through the LMS API
with its articles uploaded the way an instructor's browser does (presigned PUT), then indexed by the AI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from localcloud.cloud import LocalCloud

from tests.e2e.support import Account, register
from tests.support.ai import evaluation_courses

INDEX_TIMEOUT = 120.0


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


@pytest.fixture(scope="session")
def ai(cloud: LocalCloud) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cloud.api_urls["ai"], timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def ai_db(cloud: LocalCloud) -> Iterator[psycopg.Connection]:
    with psycopg.connect(cloud.endpoints()["databases"]["ai"], autocommit=True) as conn:
        yield conn


@dataclass
class LiveCourse:
    id: str
    owner: Account
    modules: dict[str, str] = field(default_factory=dict)  # title -> id
    assets: dict[str, str] = field(default_factory=dict)  # title -> id


def publish_course(http: httpx.Client, owner: Account, spec: dict[str, Any], *, modules: int | None = None,
                   prerequisite: str | None = None) -> LiveCourse:
    """Create, fill (articles through presigned uploads) and publish ``spec`` through the LMS API."""
    course = http.post("/api/v1/courses", json={"title": spec["title"], "description": spec.get("description")},
                       headers=owner.headers)
    assert course.status_code == 201, course.text
    live = LiveCourse(course.json()["id"], owner)
    for module_spec in spec["modules"][:modules]:
        module = http.post("/api/v1/modules", json={"course_id": live.id, "title": module_spec["title"]},
                           headers=owner.headers)
        assert module.status_code == 201, module.text
        live.modules[module_spec["title"]] = module.json()["id"]
        for asset_spec in module_spec["assets"]:
            body = {"module_id": module.json()["id"], "title": asset_spec["title"],
                    "asset_type": asset_spec["asset_type"], "description": asset_spec.get("description")}
            if asset_spec["asset_type"] != "article":
                body["source_url"] = asset_spec["source_url"]
            asset = http.post("/api/v1/assets", json=body, headers=owner.headers)
            assert asset.status_code == 201, asset.text
            asset_id = asset.json()["id"]
            live.assets[asset_spec["title"]] = asset_id
            if asset_spec["asset_type"] == "article":
                document = json.dumps(asset_spec["document"]).encode()
                ticket = http.post(f"/api/v1/assets/{asset_id}/content/upload-url",
                                   json={"content_type": "application/json", "size_bytes": len(document)},
                                   headers=owner.headers).json()
                assert httpx.put(ticket["upload_url"], content=document,
                                 headers=ticket["required_headers"]).status_code == 200
                done = http.post(f"/api/v1/assets/{asset_id}/content/complete", headers=owner.headers)
                assert done.status_code == 200, done.text
    if prerequisite:
        linked = http.post(f"/api/v1/courses/{live.id}/prerequisites/{prerequisite}", headers=owner.headers)
        assert linked.status_code in (200, 201, 204), linked.text
    published = http.post(f"/api/v1/courses/{live.id}/publish", headers=owner.headers)
    assert published.status_code == 200, published.text
    return live


def wait_until_indexed(ai: httpx.Client, course: LiveCourse) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        response = ai.get(f"/api/v1/ai/courses/{course.id}/processing-status", headers=course.owner.headers)
        body = response.json() if response.status_code == 200 else {}
        return body if body.get("status") in ("ready", "failed") else None

    status: dict[str, Any] = wait_for(ready, INDEX_TIMEOUT, f"course {course.id} indexed")
    assert status["status"] == "ready", status
    return status


@pytest.fixture(scope="session")
def course_owner(http: httpx.Client) -> Account:
    return register(http, "instructor")


@pytest.fixture(scope="session")
def security_course(http: httpx.Client, ai: httpx.Client, course_owner: Account) -> LiveCourse:
    """Two modules of the web security evaluation course, published and indexed."""
    course = publish_course(http, course_owner, evaluation_courses()["web-security"], modules=2)
    wait_until_indexed(ai, course)
    return course
