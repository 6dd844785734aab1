"""Certificate serials, verification links and the rendered HTML document. Pure: randomness is injectable."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from urllib.parse import urlsplit

from smartcourse.links import certificate_verify_url

SERIAL_PREFIX = "SC-"
SERIAL_CHARS = 12
_SERIAL = re.compile(r"^SC-[A-Z2-7]{12}$")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def new_serial(random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """``SC-`` + 12 base32 characters: 60 random bits, case-free and without look-alikes 0/1/8/9."""
    encoded = base64.b32encode(random_bytes(8)).decode("ascii")
    return SERIAL_PREFIX + encoded[:SERIAL_CHARS]


def is_valid_serial(serial: str) -> bool:
    return _SERIAL.match(serial) is not None


def verification_url(base_url: str, serial: str) -> str:
    """Public verification link (the route of ``lms-certificates-verify``); ``base_url`` is the LMS API root."""
    if not is_valid_serial(serial):
        raise ValueError(f"Not a certificate serial: {serial!r}")
    return certificate_verify_url(base_url, serial)


def format_date(day: date) -> str:
    # Month names are spelled out here rather than via strftime, whose output depends on the process locale.
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class CertificateDocument:
    learner_name: str
    course_title: str
    issued_at: date | datetime
    serial: str
    verification_url: str


_STYLE = """
body{margin:0;background:#f4f1ea;font-family:Georgia,'Times New Roman',serif;color:#222}
.certificate{max-width:820px;margin:40px auto;padding:56px;background:#fff;border:12px double #8a6d3b;text-align:center}
h1{font-size:40px;letter-spacing:2px;margin:0 0 24px}
.name{font-size:32px;font-weight:bold;margin:16px 0}
.course{font-size:24px;font-style:italic;margin:16px 0}
.meta{margin-top:40px;font-size:14px;color:#555}
.meta a{color:#555}
"""


def render_certificate_html(doc: CertificateDocument) -> str:
    """A self-contained HTML page (inline style, no external resources); every value is escaped."""
    day = doc.issued_at.date() if isinstance(doc.issued_at, datetime) else doc.issued_at
    url = escape(doc.verification_url)
    # Only web links become clickable; anything else (e.g. a javascript: URL) is shown as text.
    link = f'<a href="{url}">{url}</a>' if urlsplit(doc.verification_url).scheme in ("http", "https") else url
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Certificate {escape(doc.serial)}</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n"
        '<main class="certificate">\n'
        "<h1>Certificate of Completion</h1>\n"
        "<p>This certifies that</p>\n"
        f'<p class="name">{escape(doc.learner_name)}</p>\n'
        "<p>has successfully completed the course</p>\n"
        f'<p class="course">{escape(doc.course_title)}</p>\n'
        f'<p>on <time datetime="{day.isoformat()}">{escape(format_date(day))}</time></p>\n'
        '<div class="meta">\n'
        f'<p>Certificate no. <span class="serial">{escape(doc.serial)}</span></p>\n'
        f"<p>Verify at {link}</p>\n"
        "</div>\n</main>\n</body>\n</html>\n"
    )
