"""Each API publishes its OpenAPI document and a Swagger UI that works offline."""

from __future__ import annotations

import httpx
import pytest
from smartcourse.catalogue import Service

from stacks.services import api_functions

pytestmark = pytest.mark.e2e


def test_openapi_lists_every_lms_route(http: httpx.Client) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    expected = {(r.method, r.path) for fn in api_functions(Service.LMS) for r in fn.routes
                if r.path.startswith("/api/")}
    assert expected <= documented
    me = document["paths"]["/api/v1/auth/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    assert "security" not in document["paths"]["/api/v1/auth/register"]["post"]


def test_swagger_ui_is_served_with_its_assets(http: httpx.Client) -> None:
    page = http.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "docs.js" in page.text and "docs.css" in page.text
    script = http.get("/docs.js")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
