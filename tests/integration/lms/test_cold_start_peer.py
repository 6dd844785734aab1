"""The cold-start benchmark's peer (``tests/benchmarks/peer_fastapi/app.py``) is a fair one: through its Mangum
handler it answers ``GET /api/v1/courses`` from the same PostgreSQL tables with the same page as the
``lms-courses-list`` function (items, their counts, the total)."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import pytest
from smartcourse_lms.auth.domain import Role
from sqlalchemy import Engine

from tests.integration.lms.test_courses_handlers import _enroll, _published, _user, call
from tests.support import auth as fixtures
from tests.support.apigw import body_of

lms_url, engine, handler_env = fixtures.lms_url, fixtures.engine, fixtures.handler_env

pytestmark = pytest.mark.integration

PEER_MODULE = "tests.benchmarks.peer_fastapi.app"


def _peer_event(limit: int, offset: int) -> dict[str, Any]:
    query = {"limit": str(limit), "offset": str(offset)}
    return {
        "resource": "/api/v1/courses", "path": "/api/v1/courses", "httpMethod": "GET",
        "headers": {"Host": "peer.local"}, "multiValueHeaders": {"Host": ["peer.local"]},
        "queryStringParameters": query, "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"resourcePath": "/api/v1/courses", "httpMethod": "GET", "path": "/api/v1/courses",
                           "stage": "dev", "requestId": "peer-test", "identity": {"sourceIp": "127.0.0.1"}},
    }


def test_the_peer_answers_the_same_page_as_lms_courses_list(handler_env: str, lms_url: str, engine: Engine,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    owner, student = _user(engine, Role.INSTRUCTOR), _user(engine, Role.STUDENT)
    courses = [_published(engine, owner) for _ in range(3)]
    _enroll(engine, student, courses[0]["id"])

    monkeypatch.setenv("DATABASE_URL", lms_url)  # the peer builds its engine at import, like its original
    sys.modules.pop(PEER_MODULE, None)
    peer = importlib.import_module(PEER_MODULE)
    try:
        for limit, offset in ((2, 0), (2, 1), (50, 0)):
            ours = call("courses-list", student, query={"limit": str(limit), "offset": str(offset)})
            theirs = peer.handler(_peer_event(limit, offset), None)
            assert ours["statusCode"] == theirs["statusCode"] == 200, theirs
            mine, other = body_of(ours), json.loads(theirs["body"])
            assert (other["total"], other["limit"], other["offset"]) == (mine["total"], limit, offset)
            assert [(c["id"], c["modules_count"], c["enrolled_count"]) for c in other["items"]] == \
                [(c["id"], c["modules_count"], c["enrolled_count"]) for c in mine["items"]]
        assert mine["total"] >= 3 and any(c["enrolled_count"] == 1 for c in other["items"])
    finally:
        peer.engine.dispose()
        sys.modules.pop(PEER_MODULE, None)
