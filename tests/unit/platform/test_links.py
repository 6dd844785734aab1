"""The certificate verification links every service builds land on the LMS API's verify function."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from smartcourse.catalogue import Function, Service
from smartcourse.links import certificate_verify_url
from smartcourse.settings import get_settings
from smartcourse_lms.learning.certificates import verification_url
from smartcourse_notification.consumer import certificate_url

from stacks.services import api_functions

SERIAL = "SC-ABCDEFGHJKMN"


def routed_to(method: str, path: str) -> list[tuple[Function, dict[str, str]]]:
    """The LMS API's functions whose route matches ``path`` (a ``{param}`` is one path segment), with the params."""
    matches = []
    for fn in api_functions(Service.LMS):
        for route in fn.routes:
            pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.path)) + "$"
            if route.method == method and (found := re.match(pattern, path)):
                matches.append((fn, found.groupdict()))
    return matches


@pytest.fixture()
def public_base_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://api.smartcourse.test/prod/")
    get_settings.cache_clear()
    yield "https://api.smartcourse.test/prod/"
    get_settings.cache_clear()


def test_the_lms_and_the_notification_links_are_the_verify_route(public_base_url: str) -> None:
    links = {"lms certificate document": verification_url(public_base_url, SERIAL),
             "notification mail": certificate_url(SERIAL)}
    for who, link in links.items():
        parts = urlsplit(link)
        assert f"{parts.scheme}://{parts.netloc}" == "https://api.smartcourse.test", who
        path = parts.path.removeprefix("/prod")
        [(fn, params)] = routed_to("GET", path)
        assert fn.name == "lms-certificates-verify" and params == {"serial_no": SERIAL}, who
        assert not fn.route.authorized, "the verification link must work without a token"


def test_a_serial_cannot_leave_its_path_segment() -> None:
    link = certificate_verify_url("https://x.test", "SC-../../admin/users?x=1")
    [(fn, params)] = routed_to("GET", urlsplit(link).path)
    assert fn.name == "lms-certificates-verify" and "/" not in params["serial_no"]
