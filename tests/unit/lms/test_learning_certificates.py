"""Certificate serials, verification links and the HTML document."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smartcourse_lms.learning.certificates import (
    CertificateDocument,
    format_date,
    is_valid_serial,
    new_serial,
    render_certificate_html,
    verification_url,
)

SERIAL = re.compile(r"^SC-[A-Z2-7]{12}$")


def test_serial_format_with_the_default_random_source() -> None:
    serials = {new_serial() for _ in range(200)}
    assert len(serials) == 200
    assert all(SERIAL.match(s) and is_valid_serial(s) for s in serials)


@given(st.binary(min_size=8, max_size=8))
def test_serial_uses_the_given_random_source(data: bytes) -> None:
    serial = new_serial(lambda n: data[:n])
    assert SERIAL.match(serial)
    assert serial == new_serial(lambda n: data[:n])


def test_serial_is_deterministic_for_a_fixed_source() -> None:
    assert new_serial(lambda n: bytes(n)) == "SC-AAAAAAAAAAAA"
    assert new_serial(lambda n: b"\xff" * n) == "SC-777777777777"


@pytest.mark.parametrize("serial", ["SC-AAAAAAAAAAA", "SC-AAAAAAAAAAAAA", "sc-AAAAAAAAAAAA", "SC-AAAAAAAAAAA1",
                                    "XX-AAAAAAAAAAAA", "SC-aaaaaaaaaaaa", ""])
def test_invalid_serials(serial: str) -> None:
    assert not is_valid_serial(serial)


def test_verification_url() -> None:
    expected = "https://lms.example.com/api/v1/certificates/verify/SC-ABCDEFGHIJ23"
    assert verification_url("https://lms.example.com", "SC-ABCDEFGHIJ23") == expected
    assert verification_url("https://lms.example.com/", "SC-ABCDEFGHIJ23") == expected
    with pytest.raises(ValueError):
        verification_url("https://lms.example.com", "SC-../../admin")


def test_date_is_spelled_out_independent_of_locale() -> None:
    assert format_date(date(2026, 11, 4)) == "4 November 2026"


def certificate(**overrides: object) -> CertificateDocument:
    values: dict[str, object] = {
        "learner_name": "Ada Lovelace", "course_title": "Analytical Engines", "serial": "SC-ABCDEFGHIJ23",
        "issued_at": datetime(2026, 11, 24, 23, 30, tzinfo=UTC),
        "verification_url": "https://lms.example.com/api/v1/certificates/verify/SC-ABCDEFGHIJ23",
    }
    values.update(overrides)
    return CertificateDocument(**values)  # type: ignore[arg-type]


def test_certificate_contains_everything() -> None:
    page = render_certificate_html(certificate())
    assert page.startswith("<!DOCTYPE html>")
    for part in ("Ada Lovelace", "Analytical Engines", "24 November 2026", "SC-ABCDEFGHIJ23",
                 'href="https://lms.example.com/api/v1/certificates/verify/SC-ABCDEFGHIJ23"'):
        assert part in page
    assert render_certificate_html(certificate(issued_at=date(2026, 1, 2))).count("2 January 2026") == 1


def test_certificate_is_self_contained() -> None:
    page = render_certificate_html(certificate())
    assert "<script" not in page and "<link" not in page and "@import" not in page and "<img" not in page
    assert "http" not in page.replace("https://lms.example.com/api/v1/certificates/verify/SC-ABCDEFGHIJ23", "")


def test_every_text_is_escaped() -> None:
    page = render_certificate_html(certificate(
        learner_name='<script>alert("x")</script>', course_title="Tom & Jerry's <b>",
        verification_url='https://x.example/"><script>evil()</script>'))
    assert "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Tom &amp; Jerry&#x27;s &lt;b&gt;" in page


def test_non_web_verification_links_are_not_clickable() -> None:
    page = render_certificate_html(certificate(verification_url="javascript:alert(1)"))
    assert "href" not in page and "javascript:alert(1)" in page
