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
from smartcourse.links import certificate_verify_url

from smartcourse_notification.domain import Category, Channel

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


# Categories a user may switch off (transactional is not one of them), with their defaults.
OPTIONAL_CATEGORIES: dict[str, bool] = {
    Category.COURSE_UPDATES.value: True,
    Category.PROGRESS.value: True,
    Category.MARKETING.value: False,
}


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


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        auto_reload=False,
    )


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
        subject=" ".join(subject.split()),  # one line: a header value never carries a newline
        text=part(".txt", Channel.EMAIL in spec.channels),
        html=part(".html", Channel.EMAIL in spec.channels),
        in_app=part(".in_app.txt", Channel.IN_APP in spec.channels),
        sms=part(".sms.txt", Channel.SMS in spec.channels),
    )
