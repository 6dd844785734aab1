"""The checked-in OpenAPI documents match the route definitions."""

from __future__ import annotations

import json
from pathlib import Path

from stacks.openapi_export import render
from stacks.services import APIS

ROOT = Path(__file__).resolve().parents[3]


def test_checked_in_openapi_documents_are_current() -> None:
    for service in APIS:
        path = ROOT / "docs" / "openapi" / f"{service}.json"
        assert path.exists(), f"{path} missing: run `make openapi`"
        assert path.read_text() == render(service), f"{path} is stale: run `make openapi` and commit"


def test_a_route_with_a_path_parameter_documents_404() -> None:
    """A path parameter the resolver cannot match (an odd segment, say) is a 404 from any such route; the fuzzing
    test found one route that did not say so."""
    for service in APIS:
        document = json.loads(render(service))
        for path, operations in document["paths"].items():
            if "{" not in path:
                continue
            for method, operation in operations.items():
                assert "404" in operation["responses"], f"{service}: {method.upper()} {path}"


# Served without the platform's resolver or a database (functions/platform_fns: health, docs).
NO_RESOLVER_PATHS = {"/health", "/docs", "/openapi.json"}


def test_every_resolver_route_documents_503() -> None:
    """Any route can meet a database briefly unavailable (503, smartcourse.db.transient); its document says so."""
    for service in APIS:
        document = json.loads(render(service))
        for path, operations in document["paths"].items():
            if path in NO_RESOLVER_PATHS:
                continue
            for method, operation in operations.items():
                assert "503" in operation["responses"], f"{service}: {method.upper()} {path}"
