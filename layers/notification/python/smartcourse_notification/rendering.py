"""The template registry and rendering (Jinja2 files under ``templates/``).

Each template declares its category, its channels and the variables it needs. Rendering is strict: a
declared variable missing from the context is an error before Jinja runs, and ``StrictUndefined`` catches
anything a template uses without declaring it (a unit test also checks the declarations against the files).

Files per template ``<name>``: ``<name>.subject.txt`` (email subject, in-app title), ``<name>.txt`` and
``<name>.html`` (email bodies; the HTML extends ``base.html`` and is autoescaped), ``<name>.in_app.txt``
when it has the in-app channel and ``<name>.sms.txt`` when it has the SMS channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from smartcourse.links import analytics_report_url, certificate_verify_url

from smartcourse_notification.domain import Category, Channel

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


# Categories a user may switch off (transactional is not one of them), with their defaults.
OPTIONAL_CATEGORIES: dict[str, bool] = {
    Category.COURSE_UPDATES.value: True,
    Category.PROGRESS.value: True,
    Category.MARKETING.value: False,
    Category.NUDGES.value: True,
    Category.REPORTS.value: True,
}

# The longest SMS a template may render: two concatenated GSM-7 segments (153 characters each). Free text in an
# SMS template (a title, an instructor's message) is cut to fit; a unit test renders every SMS template with the
# longest values its event allows and holds it to this.
SMS_MAX_CHARS = 306


@dataclass(frozen=True)
class TokenLink:
    """A link carrying a one-time token minted by the LMS at send time from the event's token reference."""

    purpose: str  # what lms-auth-issue-one-time-token expects: email_verification | password_reset
    ref_variable: str  # the context key holding the token reference (stored in the send)
    url_variable: str  # the template variable receiving the link
    path: str  # web-app path; the link is {APP_BASE_URL}{path}?token=<token>


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    category: Category
    channels: tuple[Channel, ...]
    variables: tuple[str, ...]
    description: str
    sample: Mapping[str, Any]
    token: TokenLink | None = None

    @property
    def transactional(self) -> bool:
        return self.category is Category.TRANSACTIONAL

    def files(self) -> tuple[str, ...]:
        names = [f"{self.name}.subject.txt"]
        if Channel.EMAIL in self.channels:
            names += [f"{self.name}.txt", f"{self.name}.html"]
        if Channel.IN_APP in self.channels:
            names.append(f"{self.name}.in_app.txt")
        if Channel.SMS in self.channels:
            names.append(f"{self.name}.sms.txt")
        return tuple(names)


_SAMPLE_NAME = "Ada Lovelace"
_SAMPLE_COURSE = "Python for Beginners"
_SAMPLE_COURSE_URL = "http://127.0.0.1:3000/courses/00000000-0000-4000-8000-000000000001"
_SAMPLE_REPORT = {"recipient_name": _SAMPLE_NAME, "report_type": "course", "period": "2026-11-17 to 2026-11-23",
                  "report_format": "HTML",
                  "report_url": analytics_report_url("http://127.0.0.1:8002", "00000000-0000-4000-8000-0000000000a1")}

TEMPLATES: dict[str, TemplateSpec] = {
    spec.name: spec
    for spec in (
        TemplateSpec(
            "welcome_verify_email", Category.TRANSACTIONAL, (Channel.EMAIL,), ("recipient_name", "verify_url"),
            "Welcome and email verification link (user.registered)",
            {"recipient_name": _SAMPLE_NAME, "verify_url": "http://127.0.0.1:3000/verify-email?token=sample-token"},
            TokenLink("email_verification", "verification_token_ref", "verify_url", "/verify-email"),
        ),
        TemplateSpec(
            "password_reset", Category.TRANSACTIONAL, (Channel.EMAIL,), ("recipient_name", "reset_url"),
            "Password reset link (user.password_reset_requested)",
            {"recipient_name": _SAMPLE_NAME, "reset_url": "http://127.0.0.1:3000/reset-password?token=sample-token"},
            TokenLink("password_reset", "reset_token_ref", "reset_url", "/reset-password"),
        ),
        TemplateSpec(
            "enrollment_confirmation", Category.COURSE_UPDATES, (Channel.EMAIL, Channel.IN_APP),
            ("recipient_name", "course_title", "course_url"),
            "Enrollment confirmation (enrollment.created)",
            {"recipient_name": _SAMPLE_NAME, "course_title": _SAMPLE_COURSE, "course_url": _SAMPLE_COURSE_URL},
        ),
        TemplateSpec(
            "course_completed", Category.PROGRESS, (Channel.EMAIL, Channel.IN_APP, Channel.SMS),
            ("recipient_name", "course_title", "serial_no", "certificate_url"),
            "Course completed, with the certificate's public verification link (certificate.issued)",
            {"recipient_name": _SAMPLE_NAME, "course_title": _SAMPLE_COURSE, "serial_no": "SC-ABCDEFGHJKMN",
             "certificate_url": certificate_verify_url("http://127.0.0.1:8000", "SC-ABCDEFGHJKMN")},
        ),
        TemplateSpec(
            "course_processing_completed", Category.COURSE_UPDATES, (Channel.EMAIL, Channel.IN_APP),
            ("recipient_name", "course_title", "chunks", "embeddings", "course_url"),
            "To the instructor: the course was indexed (course.processing_completed)",
            {"recipient_name": _SAMPLE_NAME, "course_title": _SAMPLE_COURSE, "chunks": 42, "embeddings": 42,
             "course_url": _SAMPLE_COURSE_URL},
        ),
        TemplateSpec(
            "course_processing_failed", Category.COURSE_UPDATES, (Channel.EMAIL, Channel.IN_APP),
            ("recipient_name", "course_title", "error", "course_url"),
            "To the instructor: indexing the course failed (course.processing_failed)",
            {"recipient_name": _SAMPLE_NAME, "course_title": _SAMPLE_COURSE,
             "error": "The article 'Intro' has no readable text", "course_url": _SAMPLE_COURSE_URL},
        ),
        TemplateSpec(
            "instructor_nudge", Category.NUDGES, (Channel.EMAIL, Channel.IN_APP, Channel.SMS),
            ("recipient_name", "course_title", "message", "course_url"),
            "To a learner: their instructor's nudge, with the instructor's own message (learner.nudge_requested)",
            {"recipient_name": _SAMPLE_NAME, "course_title": _SAMPLE_COURSE,
             "message": "We miss you! Module 3 is the hardest; the quiz at its end is worth a second try.",
             "course_url": _SAMPLE_COURSE_URL},
        ),
        TemplateSpec(
            "report_ready", Category.TRANSACTIONAL, (Channel.EMAIL, Channel.IN_APP),
            ("recipient_name", "report_type", "period", "report_format", "report_url"),
            "To its owner: the report they requested is ready (report.ready, not scheduled)",
            _SAMPLE_REPORT,
        ),
        TemplateSpec(
            "scheduled_report_ready", Category.REPORTS, (Channel.EMAIL, Channel.IN_APP),
            ("recipient_name", "report_type", "period", "report_format", "report_url"),
            "To its owner: a scheduled report (weekly digest, daily platform report) is ready (report.ready)",
            {**_SAMPLE_REPORT, "report_type": "instructor"},
        ),
    )
}


class UnknownTemplate(LookupError):
    pass


class MissingVariables(ValueError):
    def __init__(self, template: str, missing: list[str]) -> None:
        super().__init__(f"template {template} needs: {', '.join(missing)}")
        self.template = template
        self.missing = missing


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str | None
    html: str | None
    in_app: str | None
    sms: str | None


def one_line(value: Any) -> str:
    """``value`` with every run of whitespace (newlines included) as one space: for SMS and subjects."""
    return " ".join(str(value).split())


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    env.filters["oneline"] = one_line
    env.policies["truncate.leeway"] = 0  # ``truncate(n)`` never exceeds n (Jinja lets 5 more through by default)
    return env


def template_spec(name: str) -> TemplateSpec:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UnknownTemplate(name) from None


def missing_variables(spec: TemplateSpec, context: Mapping[str, Any]) -> list[str]:
    return [v for v in spec.variables if context.get(v) is None]


def render(name: str, context: Mapping[str, Any]) -> Rendered:
    """Every channel's text of template ``name``; ``MissingVariables`` when a declared variable is absent."""
    spec = template_spec(name)
    missing = missing_variables(spec, context)
    if missing:
        raise MissingVariables(name, missing)
    values = {v: context[v] for v in spec.variables}
    env = environment()

    def part(suffix: str, wanted: bool) -> str | None:
        if not wanted:
            return None
        try:
            return env.get_template(f"{name}{suffix}").render(values).strip()
        except TemplateError as exc:  # a template/registry mismatch: a bug, not bad input
            raise RuntimeError(f"template {name}{suffix} failed to render: {exc}") from exc

    subject = part(".subject.txt", True) or ""
    return Rendered(
        subject=one_line(subject),  # one line: a header value never carries a newline
        text=part(".txt", Channel.EMAIL in spec.channels),
        html=part(".html", Channel.EMAIL in spec.channels),
        in_app=part(".in_app.txt", Channel.IN_APP in spec.channels),
        sms=part(".sms.txt", Channel.SMS in spec.channels),
    )
