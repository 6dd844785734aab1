"""The pages behind the links in local mail: ``/verify-email`` and ``/reset-password`` (``APP_BASE_URL``).

Deployed stages link to the web app; locally no web app runs, so the local cloud serves these two small pages
itself (on 127.0.0.1:3000 for ``make run``, a free port in the tests). The verify page spends the link's token
through the LMS API's ``POST /api/v1/auth/verify-email`` and shows the outcome; the reset page is a form that
sends the new password to ``POST /api/v1/auth/password/reset`` and shows the API's answer, its validation
messages included.

The pages call the API same-origin: this server forwards exactly those two routes to the local LMS gateway (a
dev-server proxy). The API sends no CORS headers (the web app is expected behind the same domain), so calling the
gateway's port from this origin would be refused by the browser; forwarding keeps the API as it is deployed.
Nothing else is forwarded.

The token is taken from the query string and written into the page HTML-escaped (an attribute the script reads);
the pages load no external asset, and a strict Content-Security-Policy allows scripts, styles and requests from
this origin only. ``Referrer-Policy: no-referrer`` keeps the token out of any Referer header.
"""

from __future__ import annotations

import contextlib
import html
import http.client
import json
import logging
import threading
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("localcloud.pages")

LOCAL_HOST = "127.0.0.1"
ASSETS_DIR = Path(__file__).resolve().parent / "mail_pages"
ASSETS = {"/assets/pages.js": ("pages.js", "text/javascript; charset=utf-8"),
          "/assets/pages.css": ("pages.css", "text/css; charset=utf-8"),
          "/assets/icon.svg": ("icon.svg", "image/svg+xml")}
# The auth bodies are a token and a password: anything larger is not one of them.
MAX_BODY_BYTES = 64 * 1024
# A little above API Gateway's 29 s integration timeout: the gateway answers first.
UPSTREAM_TIMEOUT_SECONDS = 35.0
# Headers a page's request may carry on to the API, and the API's answer back.
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "Idempotency-Key")
FORWARDED_RESPONSE_HEADERS = ("Retry-After",)  # besides its Content-Type

SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                                "img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
)


@dataclass(frozen=True)
class Page:
    path: str  # the link's path: the notification template's TokenLink.path
    kind: str  # which script behaviour: verify | reset
    title: str
    api_path: str  # the LMS route the page posts to


@cache
def pages() -> dict[str, Page]:
    """The two pages, by path. Link paths come from the mail templates, API paths from the LMS catalogue."""
    from smartcourse_lms.catalogue import CATALOGUE
    from smartcourse_notification.rendering import TEMPLATES

    link_paths = {spec.token.purpose: spec.token.path for spec in TEMPLATES.values() if spec.token is not None}

    def api_path(function: str) -> str:
        route = CATALOGUE.function(function).routes[0]
        assert route.method == "POST", route
        return route.path

    found = (
        Page(link_paths["email_verification"], "verify", "Verify your email address",
             api_path("lms-auth-verify-email")),
        Page(link_paths["password_reset"], "reset", "Choose a new password", api_path("lms-auth-password-reset")),
    )
    return {page.path: page for page in found}


def forwarded_paths() -> frozenset[str]:
    """The only API routes this server forwards (POST): the ones its pages call."""
    return frozenset(page.api_path for page in pages().values())


_VERIFY_BODY = """<p id="outcome" role="status" aria-live="polite" data-state="pending">
Verifying your email address…</p>
<ul id="problems"></ul>"""

_RESET_BODY = """<form id="reset-form" method="post" novalidate>
<label for="new-password">New password</label>
<input id="new-password" name="new_password" type="password" autocomplete="new-password" required>
<label for="confirm-password">Repeat the new password</label>
<input id="confirm-password" name="confirm_password" type="password" autocomplete="new-password" required>
<button id="submit" type="submit">Set the new password</button>
</form>
<p id="outcome" role="status" aria-live="polite" data-state="idle"></p>
<ul id="problems"></ul>"""


def render_page(page: Page, token: str) -> str:
    """The page's HTML; ``token`` (from the query string, untrusted) only ever appears escaped in an attribute."""
    body = _VERIFY_BODY if page.kind == "verify" else _RESET_BODY
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(page.title)} · SmartCourse (local)</title>
<link rel="icon" href="/assets/icon.svg">
<link rel="stylesheet" href="/assets/pages.css">
<script src="/assets/pages.js" defer></script>
</head>
<body>
<main data-page="{html.escape(page.kind, quote=True)}" data-api="{html.escape(page.api_path, quote=True)}"
      data-token="{html.escape(token, quote=True)}">
<h1>{html.escape(page.title)}</h1>
{body}
<noscript><p>This page needs JavaScript.</p></noscript>
<footer>SmartCourse local cloud: this page stands in for the web app's.</footer>
</main>
</body>
</html>
"""


def _error_page(status: int, message: str) -> bytes:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{status}</title>'
            f'<link rel="stylesheet" href="/assets/pages.css"></head><body><main><h1>{status}</h1>'
            f"<p>{html.escape(message)}</p></main></body></html>\n").encode()


class _Handler(BaseHTTPRequestHandler):
    server: PageServer

    def log_message(self, format: str, *args: Any) -> None:
        # The request line carries the token: never logged.
        log.debug("%s %s %s", self.address_string(), self.command, urlsplit(self.path).path)

    def _send(self, status: int, content_type: str, body: bytes, extra: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (*SECURITY_HEADERS, *extra):
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error_page(self, status: int, message: str, extra: tuple[tuple[str, str], ...] = ()) -> None:
        self._send(status, "text/html; charset=utf-8", _error_page(status, message), extra)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        page = pages().get(url.path)
        if page is not None:
            token = (parse_qs(url.query).get("token") or [""])[0]
            self._send(200, "text/html; charset=utf-8", render_page(page, token).encode())
            return
        asset = ASSETS.get(url.path)
        if asset is not None:
            name, content_type = asset
            self._send(200, content_type, (ASSETS_DIR / name).read_bytes())
            return
        if url.path in forwarded_paths():
            self._send_error_page(405, "Method not allowed", (("Allow", "POST"),))
            return
        self._send_error_page(404, "Not found")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path not in forwarded_paths():
            self._drain()
            if path in pages():
                self._send_error_page(405, "Method not allowed", (("Allow", "GET, HEAD"),))
            else:
                self._send_error_page(404, "Not found")
            return
        length = self._content_length()
        if length is None:
            self.close_connection = True
            self._send_json(413, {"detail": "Request body too large"})
            return
        body = self.rfile.read(length) if length else b""
        self._forward(path, body)

    def _content_length(self) -> int | None:
        """The body's length; None when it is too large (or not stated the way this server reads bodies)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return length if 0 <= length <= MAX_BODY_BYTES else None

    def _drain(self) -> None:
        length = self._content_length()
        if length:
            self.rfile.read(length)
        elif length is None:
            self.close_connection = True

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(body).encode())

    def _forward(self, path: str, body: bytes) -> None:
        upstream = urlsplit(self.server.upstream)
        headers = {name: value for name in FORWARDED_REQUEST_HEADERS if (value := self.headers.get(name))}
        connection = http.client.HTTPConnection(upstream.hostname or LOCAL_HOST, upstream.port,
                                                timeout=UPSTREAM_TIMEOUT_SECONDS)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            status = response.status
            passed = tuple((name, value) for name in FORWARDED_RESPONSE_HEADERS if (value := response.getheader(name)))
            content_type = response.getheader("Content-Type") or "application/octet-stream"
        except (OSError, http.client.HTTPException) as error:
            log.warning("the LMS API at %s did not answer %s: %s", self.server.upstream, path, error)
            self._send_json(502, {"detail": "The local LMS API did not answer"})
            return
        finally:
            connection.close()
        self._send(status, content_type, answer, passed)


class PageServer(ThreadingHTTPServer):
    """The mail-link pages and their two forwarded API routes, on ``port`` (0: any free port)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, port: int, upstream: str, host: str = LOCAL_HOST) -> None:
        self.upstream = upstream.rstrip("/")  # the LMS API's root
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]!s}:{self.port}"

    def start(self) -> None:
        pages()  # resolve the paths now: a broken declaration fails the start, not a click on a link
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="mail-pages", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
            self._thread = None
        with contextlib.suppress(OSError):
            self.server_close()
