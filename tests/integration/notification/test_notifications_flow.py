"""The notification service end to end, in process, against real parts.

Real PostgreSQL (a notification database built by its migrations, an LMS database for the token minting),
the AWS emulator (SQS send queue and DLQ, SES, SNS) and a stand-in Lambda Invoke endpoint that runs the real
``lms-auth-issue-one-time-token`` handler. Events are real envelopes (``build_event``, or the LMS outbox rows
written by the real auth service) wrapped as an MSK Lambda event; the sender gets SQS Lambda events built
from messages really received from the queue.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from localcloud.mailbox import fetch_emails, fetch_sms
from smartcourse.db.engine import normalise_url
from smartcourse.settings import get_settings
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import build_event
from smartcourse_lms.auth.service import AuthService
from sqlalchemy import Engine, create_engine, text

from tests.support.auth import fresh_database, make_service
from tests.support.events import msk_event

pytestmark = pytest.mark.integration

MAIL_FROM = "notifications@it.smartcourse.local"
APP = "https://app.it.example"
PUBLIC = "https://api.it.example"
TOKEN_FUNCTION = "lms-auth-issue-one-time-token"


# --- infrastructure -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def notification_url(postgres: Any) -> str:
    from smartcourse.db.migrate import upgrade

    url = postgres.database_url(f"notif_{uuid.uuid4().hex[:10]}")
    upgrade(url, service="notification")
    return url


@pytest.fixture(scope="module")
def db(notification_url: str) -> Iterator[Engine]:
    eng = create_engine(normalise_url(notification_url), pool_size=2, max_overflow=2)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def lms_engine(postgres: Any) -> Iterator[Engine]:
    eng = create_engine(normalise_url(fresh_database(postgres, prefix="notiflms")), pool_size=2, max_overflow=2)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def lms(lms_engine: Engine) -> AuthService:
    return make_service(lms_engine)


class _Invoke(BaseHTTPRequestHandler):
    """Lambda's Invoke API (POST /2015-03-31/functions/<name>/invocations) for the one function it serves."""

    calls: list[str] = []

    def do_POST(self) -> None:
        from lms.auth import issue_one_time_token

        match = re.fullmatch(r"/2015-03-31/functions/([^/]+)/invocations", self.path.split("?")[0])
        payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if match is None or match.group(1) != TOKEN_FUNCTION:
            self._reply(404, {"Type": "User", "Message": "Function not found"},
                        {"x-amzn-ErrorType": "ResourceNotFoundException"})
            return
        type(self).calls.append(str(payload.get("purpose")))
        self._reply(200, issue_one_time_token.handler(payload, None))

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def lambda_endpoint(lms: AuthService) -> Iterator[str]:
    from smartcourse_lms.auth import service as auth_module

    saved = auth_module._service
    auth_module._service = lms  # the real handler, bound to the test's LMS database
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Invoke)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    auth_module._service = saved


@pytest.fixture(scope="module")
def aws(moto: Any) -> dict[str, Any]:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")
    ses = boto3.client("ses", endpoint_url=moto.endpoint, region_name="us-east-1")
    ses.verify_email_identity(EmailAddress=MAIL_FROM)
    return {"sqs": sqs, "endpoint": moto.endpoint}


@pytest.fixture
def env(notification_url: str, aws: dict[str, Any], lambda_endpoint: str,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The environment the stacks give the notification functions; fresh queues for every test."""
    from smartcourse.consumers import dlq as dlq_module
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings
    from smartcourse_notification import aws as aws_module
    from smartcourse_notification import sender as sender_module

    suffix = uuid.uuid4().hex[:8]
    queue = aws["sqs"].create_queue(QueueName=f"notification-sends-{suffix}")["QueueUrl"]
    aws = {**aws, "queue": queue,
           "queue_arn": aws["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
               "Attributes"]["QueueArn"],
           "dlq": aws["sqs"].create_queue(QueueName=f"notification-consumer-dlq-{suffix}")["QueueUrl"]}
    for key, value in {"DATABASE_URL": notification_url, "DB_NAME": "smartcourse_notification",
                       "NOTIFICATION_QUEUE_URL": aws["queue"], "CONSUMER_DLQ_URL": aws["dlq"],
                       "CONSUMER_MAX_ATTEMPTS": "2", "MAIL_FROM": MAIL_FROM, "TOKEN_ISSUER_FUNCTION": TOKEN_FUNCTION,
                       "NOTIFICATION_RETRY_DELAY_SECONDS": "0", "APP_BASE_URL": APP, "PUBLIC_BASE_URL": PUBLIC,
                       "AWS_ENDPOINT_URL": aws["endpoint"], "AWS_ENDPOINT_URL_LAMBDA": lambda_endpoint}.items():
        monkeypatch.setenv(key, value)

    def reset() -> None:
        get_settings.cache_clear()
        engine_module.reset_engine()
        aws_module.reset_clients()
        dlq_module.reset_client()
        sender_module._sender = None

    reset()
    yield aws
    reset()


# --- events in, messages out ----------------------------------------------------------------------------------


def consume(*envelopes: EventEnvelope) -> dict[str, int]:
    from notification.consume_events import handler

    return handler(msk_event(*envelopes), None)


def receive(aws: dict[str, Any], queue: str | None = None, wait: int = 0, visibility: int = 0) -> list[dict[str, Any]]:
    """One receive (up to 10); visibility 0, so what is not deleted is visible again at once (a "retry").

    A message whose visibility the sender changes must still be in flight (``visibility`` > 0), as under Lambda's
    event source mapping: SQS (and LocalStack; moto does not check) ignores the change for a visible message.
    """
    return list(aws["sqs"].receive_message(QueueUrl=queue or aws["queue"], MaxNumberOfMessages=10,
                                           VisibilityTimeout=visibility, AttributeNames=["All"],
                                           WaitTimeSeconds=wait).get("Messages", []))


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {"ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"],
                       "SentTimestamp": m["Attributes"].get("SentTimestamp", "0"), "SenderId": "AIDATEST",
                       "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": m["MD5OfBody"], "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn, "awsRegion": "us-east-1",
    } for m in messages]}


def send_batch(aws: dict[str, Any], messages: list[dict[str, Any]], context: Any = None) -> set[str]:
    """Run the sender on ``messages`` like the event source mapping: delete what succeeded, return failed ids."""
    from notification.send import handler

    result = handler(sqs_event(messages, aws["queue_arn"]), context)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for m in messages:
        if m["MessageId"] not in failed:
            aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=m["ReceiptHandle"])
    return failed


def send_all(aws: dict[str, Any]) -> set[str]:
    messages = receive(aws)
    return send_batch(aws, messages) if messages else set()


def emails_to(aws: dict[str, Any], address: str) -> list[dict[str, Any]]:
    """The mail the emulator (moto or LocalStack) sent to ``address``; ``body``: the HTML part, else the text."""
    return [{"id": m.message_id, "source": m.source, "subject": m.subject, "body": m.html or m.text}
            for m in fetch_emails(aws["endpoint"], address)]


def sms_to(aws: dict[str, Any], number: str) -> list[dict[str, Any]]:
    return [{"message_id": m.message_id, "message": m.message} for m in fetch_sms(aws["endpoint"], number)]


def rows(db: Engine, sql: str, **params: Any) -> list[Any]:
    with db.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def outbox_envelope(lms_engine: Engine, user_id: uuid.UUID, event_type: str) -> EventEnvelope:
    with lms_engine.connect() as conn:
        raw = conn.execute(text("SELECT envelope FROM outbox WHERE aggregate_id = :id AND event_type = :t "
                                "ORDER BY id DESC LIMIT 1"), {"id": user_id, "t": event_type}).scalar_one()
    return EventEnvelope.model_validate(raw)


def email() -> str:
    return f"learner-{uuid.uuid4().hex[:10]}@it.smartcourse.local"


def registered(name: str | None = "Ada Lovelace", address: str | None = None) -> EventEnvelope:
    return build_event({"user_id": str(uuid.uuid4()), "email": address or email(), "full_name": name,
                        "roles": ["student"], "verification_token_ref": str(uuid.uuid4())},
                       event_type="user.registered")


def published(instructor_id: uuid.UUID, title: str = "Python for Beginners") -> EventEnvelope:
    course_id = uuid.uuid4()
    return build_event({
        "course_id": str(course_id), "instructor_id": str(instructor_id), "title": title, "description": None,
        "published_at": datetime.now(UTC).isoformat(),
        "modules": [{"module_id": str(uuid.uuid4()), "title": "M", "assets": [
            {"asset_id": str(uuid.uuid4()), "title": "A", "asset_type": "video",
             "source_url": "https://videos.example.test/a"}]}],
    }, event_type="course.published")


def enrolled(user_id: uuid.UUID, course_id: uuid.UUID) -> EventEnvelope:
    return build_event({"enrollment_id": str(uuid.uuid4()), "user_id": str(user_id), "course_id": str(course_id),
                        "source": "self", "enrolled_at": datetime.now(UTC).isoformat()},
                       event_type="enrollment.created")


def certificate(user_id: uuid.UUID, course_id: uuid.UUID, serial: str = "SC-ABCDEFGHJKMN") -> EventEnvelope:
    return build_event({"enrollment_id": str(uuid.uuid4()), "user_id": str(user_id), "course_id": str(course_id),
                        "certificate_id": str(uuid.uuid4()), "serial_no": serial}, event_type="certificate.issued")


def set_preferences(db: Engine, user_id: uuid.UUID, **values: Any) -> None:
    from smartcourse_notification import repository as repo
    from smartcourse_notification.rules import DEFAULT_PREFERENCES

    with db.begin() as conn:
        repo.save_preferences(conn, user_id, DEFAULT_PREFERENCES.with_changes(values))


def user_of(env: EventEnvelope) -> uuid.UUID:
    return uuid.UUID(env.payload["user_id"])


def course_of(env: EventEnvelope) -> uuid.UUID:
    return uuid.UUID(env.payload["course_id"])


# --- schema ---------------------------------------------------------------------------------------------------


def test_the_migrations_build_exactly_the_tables_module(db: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from smartcourse_notification.tables import metadata

    with db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


# --- the consumer -----------------------------------------------------------------------------------------------


def test_registration_to_delivered_verification_mail_with_a_working_token(env: dict[str, Any], db: Engine,
                                                                         lms: AuthService,
                                                                         lms_engine: Engine) -> None:
    address = email()
    reg = lms.register(address, "Register-pass-1", "Grace Hopper")
    event = outbox_envelope(lms_engine, reg.user.id, "user.registered")

    assert consume(event) == {"records": 1, "applied": 1, "skipped_duplicates": 0, "ignored": 0,
                              "dead_lettered": 0}
    [recipient] = rows(db, "SELECT email, full_name FROM recipients WHERE user_id = :u", u=reg.user.id)
    assert tuple(recipient) == (address, "Grace Hopper")
    assert rows(db, "SELECT email, sms, in_app FROM preferences WHERE user_id = :u", u=reg.user.id) == [
        (True, False, True)]
    [send] = rows(db, "SELECT channel, status, address, context FROM sends WHERE event_id = :e", e=event.event_id)
    # Planned without an address: the sender takes it from the recipients projection when it delivers.
    assert (send.channel, send.status, send.address) == ("email", "queued", None)
    assert send.context["verification_token_ref"] == str(reg.verification_token_ref)
    assert "token" not in {k for k in send.context if not k.endswith("_ref")}  # never a clear token

    calls = len(_Invoke.calls)
    messages = receive(env)
    assert [json.loads(m["Body"]) for m in messages] == [{"send_id": str(
        rows(db, "SELECT id FROM sends WHERE event_id = :e", e=event.event_id)[0].id)}]
    assert send_batch(env, messages) == set()
    assert _Invoke.calls[calls:] == ["email_verification"]  # minted through the LMS function, once

    [sent] = rows(db, "SELECT status, attempts, provider_message_id, sent_at, address FROM sends "
                      "WHERE event_id = :e", e=event.event_id)
    assert sent.status == "sent" and sent.attempts == 1 and sent.provider_message_id and sent.sent_at
    assert sent.address == address
    [mail] = emails_to(env, address)
    assert mail["source"] == MAIL_FROM and mail["id"] == sent.provider_message_id
    assert "Grace Hopper" in mail["subject"]
    token = re.search(rf"{re.escape(APP)}/verify-email\?token=([A-Za-z0-9_\-%]+)", mail["body"])
    assert token is not None, mail["body"]
    assert lms.verify_email(urllib.parse.unquote(token.group(1))).email_verified


def test_password_reset_mail_carries_a_reset_token_that_works(env: dict[str, Any], db: Engine, lms: AuthService,
                                                              lms_engine: Engine) -> None:
    address = email()
    reg = lms.register(address, "Register-pass-1")
    lms.forgot_password(address)
    event = outbox_envelope(lms_engine, reg.user.id, "user.password_reset_requested")
    # No user.registered consumed: the reset event alone names the address.
    assert consume(event)["applied"] == 1
    assert send_all(env) == set()
    [mail] = emails_to(env, address)
    token = re.search(rf"{re.escape(APP)}/reset-password\?token=([A-Za-z0-9_\-%]+)", mail["body"])
    assert token is not None
    lms.reset_password(urllib.parse.unquote(token.group(1)), "Brand-new-pass-2")
    assert lms.login(address, "Brand-new-pass-2", None).access_token


def test_enrollment_and_certificate_notify_by_email_and_in_app(env: dict[str, Any], db: Engine) -> None:
    learner, teacher = registered(), registered("Prof X")
    course = published(user_of(teacher), title="SQL <Joins> & more")
    enrollment = enrolled(user_of(learner), course_of(course))
    issued = certificate(user_of(learner), course_of(course))
    summary = consume(learner, teacher, course, enrollment, issued)
    assert summary["applied"] == 5 and summary["dead_lettered"] == 0
    assert rows(db, "SELECT title, instructor_id FROM courses WHERE course_id = :c", c=course_of(course)) == [
        ("SQL <Joins> & more", user_of(teacher))]

    statuses = rows(db, "SELECT channel, status, last_error FROM sends WHERE event_id = :e ORDER BY channel",
                    e=issued.event_id)
    assert [tuple(s) for s in statuses] == [("email", "queued", None), ("in_app", "queued", None),
                                           ("sms", "skipped", "channel sms switched off")]

    assert send_all(env) == set()
    feed = rows(db, "SELECT template, title, body, link, category, read_at FROM notifications WHERE user_id = :u "
                    "ORDER BY template DESC", u=user_of(learner))
    assert [(n.template, n.category) for n in feed] == [("enrollment_confirmation", "course_updates"),
                                                        ("course_completed", "progress")]
    assert feed[0].title == "You are enrolled in SQL <Joins> & more"  # plain text, not HTML-escaped
    assert feed[0].link == f"{APP}/courses/{course_of(course)}" and feed[0].read_at is None
    assert feed[1].link == f"{PUBLIC}/api/v1/certificates/verify/SC-ABCDEFGHJKMN"
    assert rows(db, "SELECT status FROM sends WHERE event_id = :e AND channel = 'in_app'", e=issued.event_id) == [
        ("sent",)]
    address = learner.payload["email"]
    mails = emails_to(env, address)
    assert len(mails) == 2
    completed = next(m for m in mails if "completed" in m["subject"])
    assert f"{PUBLIC}/api/v1/certificates/verify/SC-ABCDEFGHJKMN" in completed["body"]
    assert "SQL &lt;Joins&gt; &amp; more" in completed["body"]  # escaped in HTML


def test_redelivered_events_plan_and_send_once(env: dict[str, Any], db: Engine) -> None:
    learner = registered()
    course = published(uuid.uuid4())
    enrollment = enrolled(user_of(learner), course_of(course))
    assert consume(learner, course, enrollment)["applied"] == 3
    again = consume(learner, course, enrollment)
    assert again["applied"] == 0 and again["skipped_duplicates"] == 3
    assert send_all(env) == set()
    assert consume(enrollment)["skipped_duplicates"] == 1
    assert receive(env) == []
    # The enrollment mail once; the welcome mail was planned once and skipped: its made-up token reference is
    # unknown to the LMS.
    assert len(emails_to(env, learner.payload["email"])) == 1
    assert rows(db, "SELECT status FROM sends WHERE event_id = :e", e=learner.event_id) == [("skipped",)]
    assert rows(db, "SELECT count(*) FROM notifications WHERE user_id = :u", u=user_of(learner))[0][0] == 1


def test_preferences_are_honoured_and_skips_recorded(env: dict[str, Any], db: Engine) -> None:
    learner = registered()
    course = published(uuid.uuid4())
    consume(learner, course)
    set_preferences(db, user_of(learner), email=False, categories={"progress": False})
    enrollment, issued = enrolled(user_of(learner), course_of(course)), certificate(user_of(learner),
                                                                                   course_of(course))
    consume(enrollment, issued)
    by_event = {(r.event_id, r.channel): (r.status, r.last_error)
                for r in rows(db, "SELECT event_id, channel, status, last_error FROM sends WHERE user_id = :u",
                              u=user_of(learner))}
    assert by_event[(enrollment.event_id, "email")] == ("skipped", "channel email switched off")
    assert by_event[(enrollment.event_id, "in_app")] == ("queued", None)
    assert {by_event[(issued.event_id, c)] for c in ("email", "in_app", "sms")} == {
        ("skipped", "category progress switched off")}
    # The welcome mail is transactional: it went out although email is now off (it was planned before).
    assert by_event[(learner.event_id, "email")][0] == "queued"


def test_a_course_notice_for_an_unknown_course_is_dead_lettered_not_dropped(env: dict[str, Any],
                                                                             db: Engine) -> None:
    course_id = uuid.uuid4()
    notice = build_event({"course_id": str(course_id), "error": "boom"}, event_type="course.processing_failed")
    summary = consume(notice)
    assert summary["applied"] == 0 and summary["dead_lettered"] == 1
    dead = receive(env, env["dlq"], wait=1)
    assert len(dead) == 1 and str(notice.event_id) in dead[0]["Body"]
    assert rows(db, "SELECT count(*) FROM sends WHERE event_id = :e", e=notice.event_id)[0][0] == 0


def test_sends_wait_for_projections_from_other_topics(env: dict[str, Any], db: Engine,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """enrollment.created may be consumed before the user.registered / course.published it needs."""
    from smartcourse.db.engine import get_engine
    from smartcourse_notification import sender as sender_module

    teacher = registered("Prof Z")
    learner, course = registered(), published(user_of(teacher), title="Late course")
    enrollment = enrolled(user_of(learner), course_of(course))
    assert consume(enrollment)["applied"] == 1  # planned without either projection
    sender_module._sender = sender_module.Sender(get_engine, projection_wait_seconds=0.2)
    monkeypatch.setenv("NOTIFICATION_RETRY_DELAY_SECONDS", "2")
    get_settings.cache_clear()
    messages = receive(env, visibility=30)  # in flight, as under the event source mapping
    assert len(messages) == 2 and len(send_batch(env, messages)) == 2  # retried through SQS...
    assert rows(db, "SELECT DISTINCT status, attempts, last_error FROM sends WHERE event_id = :e",
                e=enrollment.event_id) == [("queued", 0, "recipient and course not known yet")]
    assert receive(env) == []  # ...after a short delay, not at once (nor after the visibility timeout)
    time.sleep(3.2)  # the 2 s delay, plus LocalStack re-queueing expired messages periodically (about once a second)
    consume(learner)
    sender_module._sender = sender_module.Sender(get_engine, projection_wait_seconds=10)
    # The course arrives while the sender waits for it.
    late = threading.Timer(0.5, consume, args=(teacher, course))
    late.start()
    try:
        assert send_batch(env, receive(env)) == set()
    finally:
        late.join()
    assert rows(db, "SELECT DISTINCT status FROM sends WHERE event_id = :e", e=enrollment.event_id) == [("sent",)]
    [mail] = [m for m in emails_to(env, learner.payload["email"]) if "Late course" in m["subject"]]
    assert mail["subject"] == "You are enrolled in Late course"


def test_a_projection_that_never_comes_fails_the_send_at_the_last_receive(env: dict[str, Any], db: Engine,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse.db.engine import get_engine
    from smartcourse_notification import sender as sender_module

    monkeypatch.setenv("TRIGGER_QUEUE_MAX_RECEIVES", "2")
    get_settings.cache_clear()
    sender_module._sender = sender_module.Sender(get_engine, projection_wait_seconds=0)
    enrollment = enrolled(uuid.uuid4(), uuid.uuid4())
    consume(enrollment)
    assert len(send_batch(env, receive(env))) == 2
    assert len(send_batch(env, receive(env))) == 2  # the last receive: failed, SQS dead-letters the messages
    assert rows(db, "SELECT DISTINCT status, last_error FROM sends WHERE event_id = :e", e=enrollment.event_id) == [
        ("failed", "recipient and course not known yet")]


def test_processing_results_go_to_the_instructor(env: dict[str, Any], db: Engine) -> None:
    teacher = registered("Prof Y")
    course = published(user_of(teacher), title="Indexed course")
    done = build_event({"course_id": str(course_of(course)), "chunks": 7, "embeddings": 7, "summary_ready": True},
                       event_type="course.processing_completed")
    failed = build_event({"course_id": str(course_of(course)), "error": "no readable text"},
                         event_type="course.processing_failed")
    assert consume(teacher, course, done, failed)["applied"] == 4
    assert send_all(env) == set()
    feed = rows(db, "SELECT template, body FROM notifications WHERE user_id = :u ORDER BY template",
                u=user_of(teacher))
    assert [f.template for f in feed] == ["course_processing_completed", "course_processing_failed"]
    assert "7 chunks" in feed[0].body and "no readable text" in feed[1].body
    subjects = sorted(m["subject"] for m in emails_to(env, teacher.payload["email"]))
    assert subjects == ['"Indexed course" is ready for AI search and questions', 'Indexing "Indexed course" failed']


# --- the sender -------------------------------------------------------------------------------------------------


def _queued_certificate(env: dict[str, Any], db: Engine, **prefs: Any) -> tuple[EventEnvelope, EventEnvelope]:
    """A learner's course_completed mail (and SMS as ``prefs`` say) on the queue; in-app off, to keep it short."""
    learner, course = registered(), published(uuid.uuid4())
    consume(learner, course)
    send_all(env)  # the welcome mail
    set_preferences(db, user_of(learner), **{"in_app": False, **prefs})
    issued = certificate(user_of(learner), course_of(course))
    consume(issued)
    return learner, issued


def test_sms_goes_out_when_switched_on_with_a_number(env: dict[str, Any], db: Engine) -> None:
    number = "+4915112340001"
    _learner, issued = _queued_certificate(env, db, sms=True, phone_number=number)
    assert send_all(env) == set()
    [sms] = sms_to(env, number)
    assert "SC-ABCDEFGHJKMN" in sms["message"]
    [row] = rows(db, "SELECT status, provider_message_id FROM sends WHERE event_id = :e AND channel = 'sms'",
                 e=issued.event_id)
    assert row.status == "sent" and row.provider_message_id == sms["message_id"]


def test_an_opted_out_phone_number_is_skipped_not_texted(env: dict[str, Any], db: Engine) -> None:
    number = "+4915112340099"  # the emulator treats numbers ending in 99 as opted out
    _learner, issued = _queued_certificate(env, db, sms=True, phone_number=number)
    assert send_all(env) == set()
    assert sms_to(env, number) == []
    [row] = rows(db, "SELECT status, last_error FROM sends WHERE event_id = :e AND channel = 'sms'",
                 e=issued.event_id)
    assert (row.status, row.last_error) == ("skipped", "phone number opted out of SMS")


def test_ses_rejection_is_retried_then_failed_at_the_last_receive(env: dict[str, Any], db: Engine,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse.settings import get_settings

    learner, other, course = registered(), registered(), published(uuid.uuid4())
    consume(learner, other, course)
    send_all(env)  # the welcome mails
    for who in (learner, other):
        set_preferences(db, user_of(who), in_app=False)
    issued = certificate(user_of(learner), course_of(course))
    consume(issued, certificate(user_of(other), course_of(course)))  # two independent sends in one batch
    monkeypatch.setenv("MAIL_FROM", "unverified@nowhere.example")  # SES: MessageRejected
    monkeypatch.setenv("TRIGGER_QUEUE_MAX_RECEIVES", "3")
    get_settings.cache_clear()
    for receive_count in (1, 2):
        messages = receive(env)
        assert len(messages) == 2
        failed = send_batch(env, messages)
        assert len(failed) == 2  # partial batch: both fail here, each reported by id
        [row] = rows(db, "SELECT status, attempts, last_error FROM sends WHERE event_id = :e AND channel = 'email'",
                     e=issued.event_id)
        assert (row.status, row.attempts) == ("queued", receive_count)
        assert row.last_error.startswith("MessageRejected")
    monkeypatch.setenv("MAIL_FROM", MAIL_FROM)
    get_settings.cache_clear()
    messages = receive(env)
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in messages} == {"3"}
    assert send_batch(env, messages) == set()
    [row] = rows(db, "SELECT status, attempts FROM sends WHERE event_id = :e AND channel = 'email'",
                 e=issued.event_id)
    assert (row.status, row.attempts) == ("sent", 3)


def test_the_last_allowed_receive_marks_the_send_failed(env: dict[str, Any], db: Engine,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse.settings import get_settings

    learner, issued = _queued_certificate(env, db)
    monkeypatch.setenv("MAIL_FROM", "unverified@nowhere.example")
    monkeypatch.setenv("TRIGGER_QUEUE_MAX_RECEIVES", "2")
    get_settings.cache_clear()
    assert len(send_batch(env, receive(env))) == 1
    assert len(send_batch(env, receive(env))) == 1  # receive 2 of 2: failed, then SQS dead-letters the message
    [row] = rows(db, "SELECT status, attempts, last_error FROM sends WHERE event_id = :e AND channel = 'email'",
                 e=issued.event_id)
    assert (row.status, row.attempts) == ("failed", 2) and "not verified" in row.last_error
    # A further delivery (redrive from the DLQ) does not resend.
    assert send_batch(env, receive(env)) == set()
    assert emails_to(env, learner.payload["email"]) == emails_to(env, learner.payload["email"])[:1]


def test_a_send_ses_keeps_rejecting_lands_in_the_dead_letter_queue_unsent(env: dict[str, Any], db: Engine,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue's own redrive (maxReceiveCount 2, as the stack sets 5) moves the message once the sender failed
    it on every delivery; the send is recorded failed and nothing went out."""
    sqs = env["sqs"]
    dead = sqs.create_queue(QueueName=f"notification-sends-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=env["queue"], Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "2"})})
    learner, issued = _queued_certificate(env, db)
    welcome = len(emails_to(env, learner.payload["email"]))
    monkeypatch.setenv("MAIL_FROM", "unverified@nowhere.example")  # SES: MessageRejected on every attempt
    monkeypatch.setenv("TRIGGER_QUEUE_MAX_RECEIVES", "2")
    get_settings.cache_clear()
    for _ in range(2):
        assert len(send_batch(env, receive(env))) == 1  # reported failed: SQS keeps it
    assert receive(env) == []  # past maxReceiveCount: moved, not delivered again
    [moved] = receive(env, dead, wait=1)
    assert json.loads(moved["Body"]) == {"send_id": str(rows(
        db, "SELECT id FROM sends WHERE event_id = :e AND channel = 'email'", e=issued.event_id)[0].id)}
    [row] = rows(db, "SELECT status, attempts, provider_message_id FROM sends WHERE event_id = :e "
                     "AND channel = 'email'", e=issued.event_id)
    assert (row.status, row.attempts, row.provider_message_id) == ("failed", 2, None)
    assert len(emails_to(env, learner.payload["email"])) == welcome  # nothing sent, let alone twice


class _Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_send_is_not_started_without_time_for_its_worst_case(env: dict[str, Any], db: Engine) -> None:
    """A timeout mid-send would leave it ``sending`` (then ``unknown``, never delivered): with too little time
    left the record is handed back unclaimed, and goes out on a later delivery."""
    from smartcourse_notification.sender import RECORD_WORST_CASE_MS

    learner, issued = _queued_certificate(env, db)
    before = len(emails_to(env, learner.payload["email"]))
    messages = receive(env)
    assert len(send_batch(env, messages, _Context(RECORD_WORST_CASE_MS - 1))) == 1
    [row] = rows(db, "SELECT status, attempts FROM sends WHERE event_id = :e AND channel = 'email'",
                 e=issued.event_id)
    assert (row.status, row.attempts) == ("queued", 0)
    assert send_batch(env, receive(env, wait=1) or messages, _Context(RECORD_WORST_CASE_MS + 60_000)) == set()
    [row] = rows(db, "SELECT status, attempts FROM sends WHERE event_id = :e AND channel = 'email'",
                 e=issued.event_id)
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(emails_to(env, learner.payload["email"])) == before + 1


def test_a_redelivered_message_never_sends_twice(env: dict[str, Any], db: Engine) -> None:
    learner, _issued = _queued_certificate(env, db)
    messages = receive(env)
    assert len(messages) == 1
    again = dict(messages[0])
    assert send_batch(env, messages) == set()
    assert send_batch(env, [again]) == set()  # at-least-once SQS: the same message once more
    assert len([m for m in emails_to(env, learner.payload["email"]) if "completed" in m["subject"]]) == 1


def test_a_send_left_mid_flight_is_marked_unknown_not_resent(env: dict[str, Any], db: Engine) -> None:
    learner, issued = _queued_certificate(env, db)
    with db.begin() as conn:  # as if a previous attempt crashed between claim and provider answer
        conn.execute(text("UPDATE sends SET status = 'sending', attempts = 1 WHERE event_id = :e "
                          "AND channel = 'email'"), {"e": issued.event_id})
    assert send_all(env) == set()
    [row] = rows(db, "SELECT status FROM sends WHERE event_id = :e AND channel = 'email'", e=issued.event_id)
    assert row.status == "unknown"
    assert [m for m in emails_to(env, learner.payload["email"]) if "completed" in m["subject"]] == []


def test_partial_batch_a_message_before_its_row_and_a_malformed_one_fail_alone(env: dict[str, Any],
                                                                                 db: Engine) -> None:
    _learner, issued = _queued_certificate(env, db)
    env["sqs"].send_message(QueueUrl=env["queue"], MessageBody=json.dumps({"send_id": str(uuid.uuid4())}))
    env["sqs"].send_message(QueueUrl=env["queue"], MessageBody="not json")
    messages = receive(env)
    assert len(messages) == 3
    failed = send_batch(env, messages)
    assert failed == {m["MessageId"] for m in messages if "not json" in m["Body"]
                      or json.loads(m["Body"])["send_id"] not in {str(r.id) for r in rows(db, "SELECT id FROM sends")}}
    assert len(failed) == 2
    [row] = rows(db, "SELECT status FROM sends WHERE event_id = :e AND channel = 'email'", e=issued.event_id)
    assert row.status == "sent"


def test_a_used_token_reference_skips_the_mail(env: dict[str, Any], db: Engine, lms: AuthService,
                                               lms_engine: Engine) -> None:
    address = email()
    reg = lms.register(address, "Register-pass-1")
    event = outbox_envelope(lms_engine, reg.user.id, "user.registered")
    consume(event)
    # The user verified through another mail meanwhile: the reference is spent.
    from smartcourse.settings import get_settings
    from smartcourse_notification.sender import issue_token

    lms.verify_email(issue_token("email_verification", str(reg.verification_token_ref), get_settings()))
    assert send_all(env) == set()
    [row] = rows(db, "SELECT status, last_error FROM sends WHERE event_id = :e", e=event.event_id)
    assert row.status == "skipped" and row.last_error.startswith("token no longer valid")
    assert emails_to(env, address) == []
