"""The local cloud's mail-link page server (localcloud.pages) on its own, in front of a recording stand-in for
the LMS API: the pages, their headers, the token escaped, 404/405, and forwarding of the pages' two API routes
only. The pages in a browser against the real API: tests/e2e/lms/test_mail_links.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from localcloud.pages import MAX_BODY_BYTES, PageServer, forwarded_paths, pages
from localcloud.services import free_port
from smartcourse_lms.catalogue import CATALOGUE
from smartcourse_notification.rendering import TEMPLATES

pytestmark = pytest.mark.integration

VERIFY_API = CATALOGUE.function("lms-auth-verify-email").routes[0].path
RESET_API = CATALOGUE.function("lms-auth-password-reset").routes[0].path
LINK_PATHS = {spec.token.purpose: spec.token.path for spec in TEMPLATES.values() if spec.token is not None}
HOSTILE_TOKEN = """"><script>alert('x')</script>&<img src=x onerror=alert(1)>"""


@dataclass
class Upstream:
    """Records each request and answers with ``status``/``body``."""

    server: ThreadingHTTPServer
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    body: bytes = b'{"ok": true}'

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    recorded: Upstream

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorded.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                      "body": self.rfile.read(length) if length else b""})
            self.send_response(recorded.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Retry-After", "7")
            self.send_header("Set-Cookie", "upstream=1")
            self.send_header("Content-Length", str(len(recorded.body)))
            self.end_headers()
            self.wfile.write(recorded.body)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorded = Upstream(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recorded
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(upstream: Upstream) -> Iterator[httpx.Client]:
    server = PageServer(0, upstream.url)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()


def test_the_pages_are_the_mail_links_paths_and_call_the_lms_auth_routes() -> None:
    assert set(pages()) == {LINK_PATHS["email_verification"], LINK_PATHS["password_reset"]} \
        == {"/verify-email", "/reset-password"}
    assert forwarded_paths() == {VERIFY_API, RESET_API} == {"/api/v1/auth/verify-email", "/api/v1/auth/password/reset"}


@pytest.mark.parametrize("path", ["/verify-email", "/reset-password"])
def test_a_page_escapes_the_token_and_sends_a_strict_policy(site: httpx.Client, upstream: Upstream,
                                                          path: str) -> None:
    response = site.get(path, params={"token": HOSTILE_TOKEN})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<script>alert" not in page and "<img src=x" not in page and "'x'" not in page
    escaped = "&quot;&gt;&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&lt;img src=x onerror=alert(1)&gt;"
    assert f'data-token="{escaped}"' in page
    # The only script is the served one; nothing is loaded from elsewhere.
    assert page.count("<script") == 1 and '<script src="/assets/pages.js" defer></script>' in page
    assert "http://" not in page and "https://" not in page
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert upstream.requests == []  # opening a page spends nothing: the page's script calls the API


def test_the_page_names_its_api_route(site: httpx.Client) -> None:
    assert f'data-api="{VERIFY_API}"' in site.get("/verify-email?token=abc").text
    assert f'data-api="{RESET_API}"' in site.get("/reset-password?token=abc").text
    assert 'data-token=""' in site.get("/reset-password").text


def test_assets_are_served_with_their_types(site: httpx.Client) -> None:
    script = site.get("/assets/pages.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "textContent" in script.text and "innerHTML" not in script.text
    assert site.get("/assets/pages.css").headers["content-type"].startswith("text/css")
    assert site.get("/assets/icon.svg").headers["content-type"] == "image/svg+xml"
    assert site.head("/assets/pages.js").content == b""


@pytest.mark.parametrize("path", ["/", "/verify", "/verify-email/extra", "/assets/", "/assets/../pages.py",
                                  "/api/v1/auth/me", "/api/v1/courses", "/favicon.ico"])
def test_unknown_paths_are_404(site: httpx.Client, upstream: Upstream, path: str) -> None:
    response = site.get(path)
    assert response.status_code == 404
    assert "content-security-policy" in response.headers
    assert upstream.requests == []


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/password/forgot",
                                  "/api/v1/auth/refresh", "/api/v1/courses", "/api/v1/auth/verify-email/x"])
def test_only_the_pages_routes_are_forwarded(site: httpx.Client, upstream: Upstream, path: str) -> None:
    response = site.post(path, json={"email": "a@b.test", "password": "x"})
    assert response.status_code == 404
    assert upstream.requests == []


def test_wrong_methods_are_405(site: httpx.Client, upstream: Upstream) -> None:
    get_api = site.get(VERIFY_API)
    assert get_api.status_code == 405 and get_api.headers["allow"] == "POST"
    post_page = site.post("/reset-password", data={"new_password": "x"})
    assert post_page.status_code == 405 and post_page.headers["allow"] == "GET, HEAD"
    assert upstream.requests == []


@pytest.mark.parametrize("api", [VERIFY_API, RESET_API])
def test_the_pages_routes_are_forwarded_as_they_are(site: httpx.Client, upstream: Upstream, api: str) -> None:
    upstream.status, upstream.body = 422, b'{"detail": [{"loc": ["body", "new_password"], "msg": "too short"}]}'
    body = json.dumps({"token": "t0k", "new_password": "short"}).encode()
    response = site.post(api, content=body, headers={"Content-Type": "application/json", "Cookie": "secret=1",
                                                     "Authorization": "Bearer nope"})
    assert response.status_code == 422
    assert response.json() == {"detail": [{"loc": ["body", "new_password"], "msg": "too short"}]}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "7"
    assert "set-cookie" not in response.headers  # only the content type and Retry-After come back
    [forwarded] = upstream.requests
    assert forwarded["method"] == "POST" and forwarded["path"] == api and forwarded["body"] == body
    assert forwarded["headers"]["Content-Type"] == "application/json"
    assert "Cookie" not in forwarded["headers"] and "Authorization" not in forwarded["headers"]


def test_a_body_over_the_limit_is_refused_unforwarded(site: httpx.Client, upstream: Upstream) -> None:
    response = site.post(VERIFY_API, content=b"x" * (MAX_BODY_BYTES + 1),
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert upstream.requests == []


def test_an_api_that_does_not_answer_is_a_502() -> None:
    server = PageServer(0, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    server.start()
    try:
        response = httpx.post(f"{server.url}{RESET_API}", json={"token": "t", "new_password": "Long-enough-1"},
                              timeout=10)
    finally:
        server.stop()
    assert response.status_code == 502
    assert response.json() == {"detail": "The local LMS API did not answer"}


def test_stop_frees_the_port(upstream: Upstream) -> None:
    server = PageServer(0, upstream.url)
    server.start()
    port = server.port
    assert httpx.get(f"{server.url}/verify-email").status_code == 200
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/verify-email", timeout=2)
