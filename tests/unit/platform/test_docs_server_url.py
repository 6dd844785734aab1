"""The docs function's server URL for the event shapes API Gateway sends (execute-api host, custom domain)."""

from __future__ import annotations

from typing import Any

from platform_fns.docs import server_url


def event(path: str, context_path: str, host: str | None, proto: str | None = "https") -> dict[str, Any]:
    """API Gateway's shape: under a custom domain ``path`` keeps the base path, ``resource`` is the route's."""
    headers = {k: v for k, v in (("Host", host), ("X-Forwarded-Proto", proto)) if v is not None}
    return {"path": path, "resource": "/openapi.json", "headers": headers,
            "requestContext": {"path": context_path, "stage": "prod", "domainName": host}}


def test_the_stage_invoke_url() -> None:
    host = "abc123.execute-api.eu-west-1.amazonaws.com"
    assert server_url(event("/openapi.json", "/prod/openapi.json", host)) == f"https://{host}/prod"


def test_a_custom_domain_with_a_base_path_and_without() -> None:
    assert server_url(event("/v1/openapi.json", "/v1/openapi.json", "api.example.com")) == "https://api.example.com/v1"
    assert server_url(event("/openapi.json", "/openapi.json", "api.example.com")) == "https://api.example.com"


def test_the_local_gateway() -> None:
    assert server_url(event("/openapi.json", "/openapi.json", "127.0.0.1:8001", "http")) == "http://127.0.0.1:8001"


def test_without_a_host_the_url_is_relative_to_the_prefix() -> None:
    assert server_url(event("/openapi.json", "/prod/openapi.json", None)) == "/prod"
    assert server_url(event("/openapi.json", "/openapi.json", None)) == "/"


def test_headers_cannot_inject_into_the_url() -> None:
    assert server_url(event("/openapi.json", "/openapi.json", "evil.example</script>", "https")) == "/"
    assert server_url(event("/openapi.json", "/openapi.json", "api.example.com", "javascript")) == (
        "https://api.example.com")
