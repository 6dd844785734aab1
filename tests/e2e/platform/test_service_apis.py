"""Every service's REST API over HTTP: health, Swagger UI and an OpenAPI document whose server URL works.

The document's ``servers`` entry is where a client (Swagger UI's "Try it out", schemathesis, a generated
client) sends requests; every GET operation without path parameters is called through it and must be
answered by a function, never by the gateway's "no route" 404.
"""

from __future__ import annotations

import json

import httpx
import pytest
from localcloud.cloud import LocalCloud
from smartcourse.catalogue import Service

from stacks.services import APIS, api_functions

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=[str(s) for s in APIS])
def api(request: pytest.FixtureRequest, cloud: LocalCloud) -> tuple[Service, str]:
    return Service(request.param), cloud.api_urls[request.param]


def test_each_api_is_served_on_its_own_port_and_written_to_the_endpoints_file(cloud: LocalCloud) -> None:
    endpoints = json.loads((cloud.config.state_dir / "endpoints.json").read_text())
    assert endpoints["apis"] == {str(s): cloud.api_urls[str(s)] for s in APIS}
    assert len(set(endpoints["apis"].values())) == len(APIS)
    assert endpoints["docs"] == {name: f"{url}/docs" for name, url in endpoints["apis"].items()}


def test_health_docs_and_document(api: tuple[Service, str]) -> None:
    service, url = api
    health = httpx.get(f"{url}/health", timeout=30)
    assert health.status_code == 200 and health.json() == {"status": "ok", "service": str(service)}
    page = httpx.get(f"{url}/docs", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert httpx.get(f"{url}/docs.js", timeout=30).status_code == 200
    document = httpx.get(f"{url}/openapi.json", timeout=30).json()
    documented = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    served = {(r.method, r.path) for f in api_functions(service) for r in f.routes
              if r.path not in ("/docs.js", "/docs.css")}
    assert documented == served


def test_the_document_names_the_url_it_is_served_at(api: tuple[Service, str]) -> None:
    _, url = api
    document = httpx.get(f"{url}/openapi.json", timeout=30).json()
    assert document["servers"] == [{"url": url}]


def test_every_get_operation_answers_through_the_documents_server_url(api: tuple[Service, str]) -> None:
    _, url = api
    document = httpx.get(f"{url}/openapi.json", timeout=30).json()
    [server] = document["servers"]
    gets = [path for path, operations in document["paths"].items() if "get" in operations and "{" not in path]
    assert "/health" in gets
    for path in gets:
        response = httpx.get(f"{server['url']}{path}", timeout=30)
        routed = not (response.status_code == 404 and response.json() == {"detail": "Not Found"}
                      and "x-amzn-errortype" in {k.lower() for k in response.headers})
        assert routed and response.status_code < 500, (path, response.status_code, response.text[:200])


def test_an_unknown_path_is_the_gateways_404(api: tuple[Service, str]) -> None:
    """The check above tells the gateway's 404 apart from a function's: it must see one here."""
    _, url = api
    response = httpx.get(f"{url}/no-such-route", timeout=30)
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    assert "x-amzn-errortype" in {k.lower() for k in response.headers}


def test_a_stage_prefix_is_not_where_the_local_apis_answer(api: tuple[Service, str], cloud: LocalCloud) -> None:
    """The bug this replaces: documents said ``/dev`` and every call through them got 404."""
    _, url = api
    assert httpx.get(f"{url}/{cloud.config.stage}/health", timeout=30).status_code == 404
