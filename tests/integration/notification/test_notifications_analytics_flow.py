"""The analytics service's events through the notification service, against real parts.

``learner.nudge_requested`` and ``report.ready`` envelopes go through the deployed consumer handler (as the MSK
event source mapping delivers them) into a notification database built by its migrations; the sender delivers
the planned sends from messages really received from the send queue, through SES and SNS of the AWS emulator,
and the mail is read back from the emulator. Recipients are learned the service's way, from ``user.registered``.
The infrastructure (database, queues, SES identity, the LMS token function for the welcome mails) is that of
test_notifications_flow.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from smartcourse.settings import get_settings
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import build_event
from sqlalchemy import Engine

from tests.integration.notification import test_notifications_flow as flow
from tests.integration.notification.test_notifications_flow import (
    APP,
    MAIL_FROM,
    consume,
    emails_to,
    receive,
    registered,
    rows,
    send_all,
    send_batch,
    set_preferences,
    sms_to,
    user_of,
)

pytestmark = pytest.mark.integration

# The fixtures of test_notifications_flow, by the names its tests use (this module gets a set of its own).
notification_url, db, lms_engine, lms = flow.notification_url, flow.db, flow.lms_engine, flow.lms
lambda_endpoint, aws, env = flow.lambda_endpoint, flow.aws, flow.env

ANALYTICS = "https://analytics.it.example"
MESSAGE = 'Hi Ada,\nmodule 3 is <b>worth</b> a second try & the quiz too: "go"!'


@pytest.fixture
def sandbox(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The notification functions' environment, with the analytics API's root for report links."""
    monkeypatch.setenv("ANALYTICS_BASE_URL", ANALYTICS)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def learner_known(sandbox: dict[str, Any], name: str = "Ada Lovelace") -> EventEnvelope:
    """A user the service has learned from ``user.registered`` (its welcome mail dealt with)."""
    user = registered(name)
    assert consume(user)["applied"] == 1
    assert send_all(sandbox) == set()
    return user


def nudge(user_id: uuid.UUID, message: str = MESSAGE, title: str = "SQL <Joins> & more",
          course_id: uuid.UUID | None = None) -> EventEnvelope:
    return build_event({"nudge_id": str(uuid.uuid4()), "course_id": str(course_id or uuid.uuid4()),
                        "course_title": title, "user_id": str(user_id), "instructor_id": str(uuid.uuid4()),
                        "message": message}, event_type="learner.nudge_requested")


def report_ready(owner: uuid.UUID, *, scheduled: bool, report_type: str = "course", fmt: str = "html",
                 period: tuple[date, date] = (date(2026, 11, 17), date(2026, 11, 23))) -> EventEnvelope:
    report_id = uuid.uuid4()
    return build_event({"report_id": str(report_id), "owner_user_id": str(owner), "report_type": report_type,
                        "course_id": str(uuid.uuid4()) if report_type == "course" else None,
                        "period_from": period[0].isoformat(), "period_to": period[1].isoformat(),
                        "download_key": f"reports/{owner}/{report_id}.{fmt}", "format": fmt,
                        "scheduled": scheduled}, event_type="report.ready")


def plan(db: Engine, event: EventEnvelope) -> list[tuple[str, str, str, str | None]]:
    return [tuple(r) for r in rows(db, "SELECT template, channel, status, last_error FROM sends "
                                       "WHERE event_id = :e ORDER BY channel", e=event.event_id)]


def feed(db: Engine, user_id: uuid.UUID) -> list[Any]:
    return rows(db, "SELECT template, category, title, body, link FROM notifications WHERE user_id = :u",
                u=user_id)


# --- nudges -------------------------------------------------------------------------------------------------------


def test_a_nudge_mails_the_learner_once_escaped_and_links_to_the_course(sandbox: dict[str, Any],
                                                                        db: Engine) -> None:
    learner = learner_known(sandbox)
    course_id = uuid.uuid4()
    event = nudge(user_of(learner), course_id=course_id)

    assert consume(event) == {"records": 1, "applied": 1, "skipped_duplicates": 0, "ignored": 0,
                              "dead_lettered": 0}
    assert plan(db, event) == [("instructor_nudge", "email", "queued", None),
                               ("instructor_nudge", "in_app", "queued", None),
                               ("instructor_nudge", "sms", "skipped", "channel sms switched off")]
    # Redelivered (the batch again): nothing planned, nothing queued twice.
    again = consume(event)
    assert again["applied"] == 0 and again["skipped_duplicates"] == 1
    messages = receive(sandbox)
    assert len(messages) == 2
    assert send_batch(sandbox, messages) == set()
    assert receive(sandbox) == []

    url = f"{APP}/courses/{course_id}"
    [mail] = emails_to(sandbox, learner.payload["email"])  # the welcome mail was skipped (made-up token ref)
    assert mail["subject"] == "Your instructor sent you a nudge about SQL <Joins> & more"
    assert mail["source"] == MAIL_FROM
    body = mail["body"]  # the HTML part
    assert "module 3 is &lt;b&gt;worth&lt;/b&gt; a second try &amp; the quiz too: &#34;go&#34;!" in body
    assert "<b>worth</b>" not in body and "SQL &lt;Joins&gt; &amp; more" in body
    assert f'href="{url}"' in body and "Ada Lovelace" in body
    [sent] = rows(db, "SELECT status, provider_message_id, address FROM sends WHERE event_id = :e "
                      "AND channel = 'email'", e=event.event_id)
    assert (sent.status, sent.provider_message_id, sent.address) == ("sent", mail["id"], learner.payload["email"])

    [item] = feed(db, user_of(learner))
    assert (item.template, item.category, item.link) == ("instructor_nudge", "nudges", url)
    assert item.title == "Your instructor sent you a nudge about SQL <Joins> & more"
    assert item.body == f'Your instructor sent you a nudge about "SQL <Joins> & more": {MESSAGE}'  # plain text

    # Delivered messages redelivered by SQS: no second mail.
    assert consume(event)["skipped_duplicates"] == 1 and receive(sandbox) == []
    assert len([m for m in emails_to(sandbox, learner.payload["email"]) if "nudge" in m["subject"]]) == 1


def test_a_nudge_texts_a_learner_who_wants_sms_plain_and_within_the_limit(sandbox: dict[str, Any],
                                                                          db: Engine) -> None:
    from smartcourse_notification.rendering import SMS_MAX_CHARS

    learner = learner_known(sandbox)
    number = "+4915112347001"
    set_preferences(db, user_of(learner), sms=True, phone_number=number, email=False)
    long_message = "Dear Ada <3, " + "please come back to the course " * 40
    event = nudge(user_of(learner), message=long_message.strip()[:1000], title="Rust & <Friends>")
    consume(event)
    assert plan(db, event) == [("instructor_nudge", "email", "skipped", "channel email switched off"),
                               ("instructor_nudge", "in_app", "queued", None),
                               ("instructor_nudge", "sms", "queued", None)]
    assert send_all(sandbox) == set()
    [sms] = sms_to(sandbox, number)
    text = sms["message"]
    assert text.startswith('SmartCourse: a nudge from your instructor about "Rust & <Friends>": Dear Ada <3, please')
    assert len(text) <= SMS_MAX_CHARS and "\n" not in text and "&lt;" not in text
    assert text.endswith(f"... {APP}/courses/{event.payload['course_id']}")
    assert [m for m in emails_to(sandbox, learner.payload["email"]) if "nudge" in m["subject"]] == []
    [item] = feed(db, user_of(learner))
    assert item.body.endswith(long_message.strip()[:1000])  # the feed keeps all of it


def test_a_learner_who_switched_nudges_off_gets_none(sandbox: dict[str, Any], db: Engine) -> None:
    learner = learner_known(sandbox)
    set_preferences(db, user_of(learner), sms=True, phone_number="+4915112347002", categories={"nudges": False})
    event = nudge(user_of(learner))
    assert consume(event)["applied"] == 1
    assert {(channel, status, error) for _, channel, status, error in plan(db, event)} == {
        ("email", "skipped", "category nudges switched off"), ("in_app", "skipped", "category nudges switched off"),
        ("sms", "skipped", "category nudges switched off")}
    assert receive(sandbox) == []
    assert feed(db, user_of(learner)) == []


def test_a_nudge_for_a_learner_not_known_yet_waits_for_the_registration(sandbox: dict[str, Any], db: Engine,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same as every send: planned without the recipient, delivered once user.registered has arrived."""
    from smartcourse.db.engine import get_engine
    from smartcourse_notification import sender as sender_module

    learner = registered("Late Learner")
    event = nudge(user_of(learner))
    assert consume(event)["applied"] == 1
    sender_module._sender = sender_module.Sender(get_engine, projection_wait_seconds=0)
    messages = receive(sandbox)
    assert len(messages) == 2 and len(send_batch(sandbox, messages)) == 2  # retried through SQS
    assert {tuple(r) for r in rows(db, "SELECT channel, status, last_error FROM sends WHERE event_id = :e "
                                       "AND channel <> 'sms'", e=event.event_id)} == {
        ("email", "queued", "recipient not known yet"), ("in_app", "queued", "recipient not known yet")}
    assert emails_to(sandbox, learner.payload["email"]) == []

    consume(learner)
    # The two retried sends (visible again after their retry delay, 0 s here) and the welcome mail.
    pending: dict[str, dict[str, Any]] = {}
    for _ in range(5):
        pending |= {m["MessageId"]: m for m in receive(sandbox, wait=1)}
        if len(pending) == 3:
            break
    assert len(pending) == 3
    assert send_batch(sandbox, list(pending.values())) == set()
    assert [m["subject"] for m in emails_to(sandbox, learner.payload["email"]) if "nudge" in m["subject"]] == [
        "Your instructor sent you a nudge about SQL <Joins> & more"]
    assert rows(db, "SELECT DISTINCT status FROM sends WHERE event_id = :e AND channel <> 'sms'",
                e=event.event_id) == [("sent",)]


# --- reports ------------------------------------------------------------------------------------------------------


def test_a_requested_report_is_mailed_whatever_the_preferences_with_a_link_to_its_page(sandbox: dict[str, Any],
                                                                                     db: Engine) -> None:
    owner = learner_known(sandbox, "Prof Report")
    set_preferences(db, user_of(owner), email=False, in_app=False,
                    categories={c: False for c in ("course_updates", "progress", "nudges", "reports")})
    event = report_ready(user_of(owner), scheduled=False, fmt="csv")
    report_id = event.payload["report_id"]
    link = f"{ANALYTICS}/api/v1/analytics/reports/{report_id}"

    assert consume(event)["applied"] == 1
    assert plan(db, event) == [("report_ready", "email", "queued", None), ("report_ready", "in_app", "queued", None)]
    assert consume(event)["skipped_duplicates"] == 1
    assert send_all(sandbox) == set()
    assert receive(sandbox) == []

    [mail] = [m for m in emails_to(sandbox, owner.payload["email"]) if "report" in m["subject"]]
    assert mail["subject"] == "Your course report for 2026-11-17 to 2026-11-23 is ready"
    assert f'<a href="{link}">' in mail["body"] and "(CSV)" in mail["body"]
    [item] = feed(db, user_of(owner))
    assert (item.template, item.category, item.link) == ("report_ready", "transactional", link)
    assert item.body == "Your course report (CSV) for 2026-11-17 to 2026-11-23 is ready."
    # Neither the S3 key nor anything presigned is kept or sent: only the report's page on the analytics API.
    download_key = event.payload["download_key"]
    contexts = [r.context for r in rows(db, "SELECT context FROM sends WHERE event_id = :e", e=event.event_id)]
    assert contexts and all(download_key not in str(c) and c["report_url"] == link for c in contexts)
    assert download_key not in mail["body"] and "X-Amz-" not in mail["body"]


def test_a_scheduled_report_follows_the_reports_category(sandbox: dict[str, Any], db: Engine) -> None:
    wants, declines = learner_known(sandbox, "Prof Digest"), learner_known(sandbox, "Admin Quiet")
    set_preferences(db, user_of(declines), categories={"reports": False})
    digest = report_ready(user_of(wants), scheduled=True, report_type="instructor")
    daily = report_ready(user_of(declines), scheduled=True, report_type="platform",
                         period=(date(2026, 11, 23), date(2026, 11, 23)))
    assert consume(digest, daily)["applied"] == 2
    assert plan(db, digest) == [("scheduled_report_ready", "email", "queued", None),
                                ("scheduled_report_ready", "in_app", "queued", None)]
    assert plan(db, daily) == [("scheduled_report_ready", "email", "skipped", "category reports switched off"),
                               ("scheduled_report_ready", "in_app", "skipped", "category reports switched off")]
    assert send_all(sandbox) == set()
    [mail] = [m for m in emails_to(sandbox, wants.payload["email"]) if "report" in m["subject"]]
    assert mail["subject"] == "Your instructor report for 2026-11-17 to 2026-11-23 is ready"
    assert f"{ANALYTICS}/api/v1/analytics/reports/{digest.payload['report_id']}" in mail["body"]
    assert 'switch off "reports"' in mail["body"]
    assert [m for m in emails_to(sandbox, declines.payload["email"]) if "report" in m["subject"]] == []
    assert [f.category for f in feed(db, user_of(wants))] == ["reports"]
    assert feed(db, user_of(declines)) == []
