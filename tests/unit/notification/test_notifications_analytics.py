"""The analytics service's notices: an instructor's nudge to a learner, and a ready report to its owner.

Rendering (the instructor's message escaped in HTML, plain and cut in SMS), the categories a user may switch
off (``nudges``, ``reports``), and the rule that a report its owner asked for is sent whatever the preferences.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from annotated_types import MaxLen
from smartcourse.links import analytics_report_url
from smartcourse_events.analytics import NUDGE_MESSAGE_MAX_LENGTH, LearnerNudgeRequestedV1
from smartcourse_notification.domain import Category, Channel
from smartcourse_notification.rendering import OPTIONAL_CATEGORIES, SMS_MAX_CHARS, TEMPLATES, render
from smartcourse_notification.rules import DEFAULT_PREFERENCES, Decision, Preferences, decide, report_period
from smartcourse_notification.rules import report_template as report_template_for
from smartcourse_notification.schemas import PreferencesUpdate

NUDGE = TEMPLATES["instructor_nudge"]
# Links as long as a deployment makes them: the web app's course page and the LMS API's verification route.
COURSE_URL = "https://smartcourse.example/courses/00000000-0000-4000-8000-000000000001"
CERTIFICATE_URL = "https://api.smartcourse.example/api/v1/certificates/verify/SC-ABCDEFGHJKMN"
# The longest course title the contract lets through.
LONGEST_TITLE = next(m.max_length for m in LearnerNudgeRequestedV1.model_fields["course_title"].metadata
                     if isinstance(m, MaxLen))


def _sent(decisions: tuple[Decision, ...]) -> set[Channel]:
    return {d.channel for d in decisions if d.send}


def _nudge(message: str, title: str = "Python for Beginners") -> dict[str, str]:
    return {"recipient_name": "Ada", "course_title": title, "message": message, "course_url": COURSE_URL}


# --- the nudge ---------------------------------------------------------------------------------------------------


def test_the_nudge_names_the_course_carries_the_message_and_links_to_the_course() -> None:
    rendered = render("instructor_nudge", _nudge("Module 3 is worth a second try."))
    assert rendered.subject == "Your instructor sent you a nudge about Python for Beginners"
    assert rendered.in_app == ('Your instructor sent you a nudge about "Python for Beginners": '
                               "Module 3 is worth a second try.")
    for body in (rendered.text, rendered.html, rendered.sms):
        assert body is not None and "Module 3 is worth a second try." in body and COURSE_URL in body
    assert rendered.html is not None and f'href="{COURSE_URL}"' in rendered.html


def test_the_instructors_message_is_escaped_in_html_and_plain_everywhere_else() -> None:
    message = '<script>alert("x")</script> & <a href="https://evil.test">click</a>'
    rendered = render("instructor_nudge", _nudge(message, title="SQL <Joins> & more"))
    assert rendered.html is not None
    assert "<script>" not in rendered.html and "evil.test\">" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;a href=&#34;https://evil.test&#34;&gt;" \
           in rendered.html
    assert "SQL &lt;Joins&gt; &amp; more" in rendered.html
    assert rendered.text is not None and message in rendered.text
    assert rendered.in_app is not None and message in rendered.in_app
    assert rendered.sms is not None and "<script>alert(\"x\")</script> &" in rendered.sms
    assert rendered.subject == "Your instructor sent you a nudge about SQL <Joins> & more"


def test_the_messages_line_breaks_stay_in_mail_and_become_spaces_in_sms() -> None:
    rendered = render("instructor_nudge", _nudge("Hi Ada,\n\nsee you in module 3!\r\nProf X"))
    assert rendered.text is not None and "Hi Ada,\n\nsee you in module 3!" in rendered.text
    assert rendered.html is not None and "white-space: pre-wrap" in rendered.html
    assert rendered.sms is not None and "\n" not in rendered.sms
    assert "Hi Ada, see you in module 3! Prof X" in rendered.sms


def test_a_short_sms_is_not_cut() -> None:
    rendered = render("instructor_nudge", _nudge("See you in module 3!"))
    assert rendered.sms == ('SmartCourse: a nudge from your instructor about "Python for Beginners": '
                            f"See you in module 3! {COURSE_URL}")


def test_the_longest_nudge_fits_the_sms_limit_and_keeps_the_start_of_the_message_and_the_link() -> None:
    message = " ".join(f"w{i:03d}" for i in range(NUDGE_MESSAGE_MAX_LENGTH // 5))[:NUDGE_MESSAGE_MAX_LENGTH]
    title = "T" * LONGEST_TITLE
    rendered = render("instructor_nudge", _nudge(message, title=title))
    assert rendered.sms is not None and len(rendered.sms) <= SMS_MAX_CHARS
    assert rendered.sms.endswith(f"... {COURSE_URL}")
    assert "w000 w001 w002" in rendered.sms and "w199" not in rendered.sms
    # Cut at a word: the last word kept is whole.
    kept = rendered.sms.split('": ', 1)[1].rsplit("... ", 1)[0]
    assert kept.split()[-1] in message.split()
    # Mail and the feed carry all of it.
    assert rendered.text is not None and message in rendered.text
    assert rendered.in_app is not None and message in rendered.in_app


def test_every_sms_template_fits_the_limit_with_the_longest_values() -> None:
    longest = {"recipient_name": "N" * 200, "course_title": "T" * LONGEST_TITLE, "serial_no": "SC-ABCDEFGHJKMN",
               "certificate_url": CERTIFICATE_URL, "course_url": COURSE_URL,
               "message": "m" * NUDGE_MESSAGE_MAX_LENGTH}
    with_sms = [name for name, spec in TEMPLATES.items() if Channel.SMS in spec.channels]
    assert sorted(with_sms) == ["course_completed", "instructor_nudge"]
    for name in with_sms:
        sms = render(name, {v: longest[v] for v in TEMPLATES[name].variables}).sms
        assert sms is not None and len(sms) <= SMS_MAX_CHARS, (name, len(sms or ""))
        assert sms.endswith(longest["course_url"] if name == "instructor_nudge" else CERTIFICATE_URL)


def test_nudges_follow_the_learners_channels_and_can_be_switched_off() -> None:
    assert NUDGE.category is Category.NUDGES and NUDGE.channels == (Channel.EMAIL, Channel.IN_APP, Channel.SMS)
    assert OPTIONAL_CATEGORIES["nudges"] is True
    assert _sent(decide(NUDGE, DEFAULT_PREFERENCES)) == {Channel.EMAIL, Channel.IN_APP}
    with_sms = Preferences(sms=True, phone_number="+4915112345678")
    decisions = decide(NUDGE, with_sms)
    assert _sent(decisions) == {Channel.EMAIL, Channel.IN_APP, Channel.SMS}
    assert next(d for d in decisions if d.channel is Channel.SMS).address == "+4915112345678"
    assert _sent(decide(NUDGE, with_sms.with_changes({"email": False}))) == {Channel.IN_APP, Channel.SMS}
    off = decide(NUDGE, with_sms.with_changes({"categories": {"nudges": False}}))
    assert _sent(off) == set() and {d.reason for d in off} == {"category nudges switched off"}
    # Switching nudges off leaves every other category alone.
    assert _sent(decide(TEMPLATES["enrollment_confirmation"], DEFAULT_PREFERENCES.with_changes(
        {"categories": {"nudges": False}}))) == {Channel.EMAIL, Channel.IN_APP}


# --- the report --------------------------------------------------------------------------------------------------


def test_a_report_the_owner_asked_for_is_sent_whatever_the_preferences_say() -> None:
    spec = TEMPLATES[report_template_for(scheduled=False)]
    assert spec.name == "report_ready" and spec.channels == (Channel.EMAIL, Channel.IN_APP)
    nothing_wanted = Preferences(email=False, sms=False, in_app=False,
                                 categories={category: False for category in OPTIONAL_CATEGORIES})
    assert _sent(decide(spec, nothing_wanted)) == {Channel.EMAIL, Channel.IN_APP}


def test_a_scheduled_report_follows_the_reports_category_and_the_channels() -> None:
    spec = TEMPLATES[report_template_for(scheduled=True)]
    assert spec.name == "scheduled_report_ready" and spec.category is Category.REPORTS
    assert OPTIONAL_CATEGORIES["reports"] is True
    assert _sent(decide(spec, DEFAULT_PREFERENCES)) == {Channel.EMAIL, Channel.IN_APP}
    assert _sent(decide(spec, DEFAULT_PREFERENCES.with_changes({"in_app": False}))) == {Channel.EMAIL}
    off = decide(spec, DEFAULT_PREFERENCES.with_changes({"categories": {"reports": False}}))
    assert _sent(off) == set() and {d.reason for d in off} == {"category reports switched off"}


@pytest.mark.parametrize(("name", "scheduled_line"), [("report_ready", False), ("scheduled_report_ready", True)])
def test_the_report_mail_names_type_period_and_format_and_links_to_the_report_page(name: str,
                                                                                   scheduled_line: bool) -> None:
    url = analytics_report_url("http://127.0.0.1:8002/", uuid.UUID(int=7))
    rendered = render(name, {"recipient_name": "Ada", "report_type": "platform", "period": "2026-11-24",
                             "report_format": "CSV", "report_url": url})
    assert rendered.subject == "Your platform report for 2026-11-24 is ready"
    assert rendered.in_app == "Your platform report (CSV) for 2026-11-24 is ready."
    assert rendered.text is not None and url in rendered.text and "(CSV)" in rendered.text
    assert rendered.html is not None and f'<a href="{url}">' in rendered.html
    assert ('switch off "reports"' in rendered.text) is scheduled_line
    assert rendered.sms is None


def test_the_report_link_is_the_analytics_apis_report_route() -> None:
    report_id = uuid.uuid4()
    assert analytics_report_url("http://127.0.0.1:8002", report_id) == \
        f"http://127.0.0.1:8002/api/v1/analytics/reports/{report_id}"
    assert analytics_report_url("https://analytics.example/", str(report_id)) == \
        f"https://analytics.example/api/v1/analytics/reports/{report_id}"


@pytest.mark.parametrize(("period_from", "period_to", "text"), [
    (date(2026, 11, 24), date(2026, 11, 24), "2026-11-24"),
    (date(2026, 11, 17), date(2026, 11, 23), "2026-11-17 to 2026-11-23"),
    (date(2026, 10, 25), date(2026, 11, 1), "2026-10-25 to 2026-11-01"),
])
def test_report_period(period_from: date, period_to: date, text: str) -> None:
    assert report_period(period_from, period_to) == text


# --- preferences -------------------------------------------------------------------------------------------------


def test_the_new_categories_are_preferences_a_user_may_set() -> None:
    assert {"nudges", "reports"} <= set(DEFAULT_PREFERENCES.as_dict()["categories"])
    update = PreferencesUpdate.model_validate({"categories": {"nudges": False, "reports": False}})
    prefs = DEFAULT_PREFERENCES.with_changes(update.changes())
    assert not prefs.wants("nudges") and not prefs.wants("reports") and prefs.wants("progress")
    # Preferences stored before these categories existed default to on.
    assert Preferences(categories={"progress": True}).wants("nudges")
    assert Preferences(categories={"progress": True}).wants("reports")
