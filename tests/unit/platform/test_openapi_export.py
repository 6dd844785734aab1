"""The checked-in OpenAPI documents match the route definitions."""

from __future__ import annotations

from pathlib import Path

from stacks.openapi_export import render
from stacks.services import APIS

ROOT = Path(__file__).resolve().parents[3]


def test_checked_in_openapi_documents_are_current() -> None:
    for service in APIS:
        path = ROOT / "docs" / "openapi" / f"{service}.json"
        assert path.exists(), f"{path} missing: run `make openapi`"
        assert path.read_text() == render(service), f"{path} is stale: run `make openapi` and commit"
