"""Notification templates: declarations match the files, rendering is strict and escapes HTML."""

from __future__ import annotations

import pytest
from jinja2 import meta
from smartcourse_notification.rendering import (
    TEMPLATES,
    TEMPLATES_DIR,
    Category,
    Channel,
    MissingVariables,
    UnknownTemplate,
    environment,
    render,
    template_spec,
)


def _used_variables(file_name: str) -> set[str]:
    env = environment()
    source = (TEMPLATES_DIR / file_name).read_text()
    return set(meta.find_undeclared_variables(env.parse(source)))


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_variable_a_template_uses_is_declared_and_every_declared_one_used(name: str) -> None:
    spec = TEMPLATES[name]
    used = set().union(*(_used_variables(f) for f in spec.files()))
    assert used == set(spec.variables), (name, used ^ set(spec.variables))


def test_base_layout_uses_no_variables_and_every_file_belongs_to_a_template() -> None:
    assert _used_variables("base.html") == set()
    declared = {f for spec in TEMPLATES.values() for f in spec.files()} | {"base.html"}
    on_disk = {p.name for p in TEMPLATES_DIR.iterdir() if p.is_file()}
    assert on_disk == declared


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_the_sample_context_renders_every_channel(name: str) -> None:
    spec = TEMPLATES[name]
    rendered = render(name, spec.sample)
    assert rendered.subject and "\n" not in rendered.subject
    assert (rendered.text is not None and rendered.html is not None) == (Channel.EMAIL in spec.channels)
    assert (rendered.in_app is not None) == (Channel.IN_APP in spec.channels)
    assert (rendered.sms is not None) == (Channel.SMS in spec.channels)
    if rendered.html is not None:
        assert rendered.html.startswith("<!doctype html>") and "SmartCourse" in rendered.html
    for value in spec.sample.values():
        assert str(value) in (rendered.text or rendered.in_app or "")


def test_a_missing_declared_variable_is_refused_before_rendering() -> None:
    sample = dict(TEMPLATES["course_completed"].sample)
    del sample["certificate_url"]
    with pytest.raises(MissingVariables) as info:
        render("course_completed", sample)
    assert info.value.missing == ["certificate_url"]


def test_unknown_template() -> None:
    with pytest.raises(UnknownTemplate):
        template_spec("nope")


def test_html_is_autoescaped_but_text_is_not() -> None:
    context = {**TEMPLATES["course_processing_failed"].sample, "error": "<script>alert(1)</script> & more"}
    rendered = render("course_processing_failed", context)
    assert rendered.html is not None and "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in rendered.html
    assert rendered.text is not None and "<script>alert(1)</script> & more" in rendered.text


def test_subject_newlines_cannot_inject_headers() -> None:
    context = {**TEMPLATES["enrollment_confirmation"].sample, "course_title": "A\r\nBcc: x@y.z"}
    assert "\n" not in render("enrollment_confirmation", context).subject


def test_the_token_templates_are_transactional_email_and_declare_their_link() -> None:
    for name, purpose in (("welcome_verify_email", "email_verification"), ("password_reset", "password_reset")):
        spec = TEMPLATES[name]
        assert spec.category is Category.TRANSACTIONAL and spec.channels == (Channel.EMAIL,)
        assert spec.token is not None and spec.token.purpose == purpose
        assert spec.token.url_variable in spec.variables
        assert spec.token.ref_variable not in spec.variables  # the reference never reaches a template
