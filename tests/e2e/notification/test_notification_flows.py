"""Mail and in-app notifications end to end: request → outbox → Kafka → notification consumer → SQS → sender.

Everything runs in the local cloud; mail is read back from the AWS emulator
(``localcloud.mailbox``), the way ``make mail`` shows it to a developer.
Verification and reset tokens come only from the mails' links: events carry
token references, and the notification sender has the LMS mint the token.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlparse

import httpx
import psycopg
import pytest
from localcloud.mailbox import SentEmail, fetch_emails, wait_for_email

from tests.e2e.lms.test_enrollments_flow import _published_course
from tests.e2e.support import Account, count, register, unique_email

pytestmark = pytest.mark.e2e

MAIL_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def aws(cloud) -> str:
    return str(cloud.aws.endpoint)


@pytest.fixture(scope="module")
def notification_db(cloud) -> psycopg.Connection:
    with psycopg.connect(cloud.endpoints()["databases"]["notification"], autocommit=True) as conn:
        yield conn


def _link(mail: SentEmail, marker: str) -> str:
    links = [link for link in mail.links if marker in link]
    assert links, f"no link with {marker!r} in {mail.subject!r}: {mail.links}"
    return links[0]


def _token(link: str) -> str:
    return parse_qs(urlparse(link).query)["token"][0]


def _outbox_text(db: psycopg.Connection, aggregate_id: str) -> str:
    rows = db.execute("SELECT envelope FROM outbox WHERE aggregate_id = %s", (aggregate_id,)).fetchall()
    return json.dumps([r[0] for r in rows])


def _wait(predicate, timeout: float = MAIL_TIMEOUT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def test_registration_mail_carries_a_working_verification_link(http: httpx.Client, db, aws: str,
                                                               notification_db) -> None:
    account = register(http)
    mail = wait_for_email(aws, account.email, match=lambda m: any("verify-email" in u for u in m.links),
                          timeout=MAIL_TIMEOUT)
    token = _token(_link(mail, "verify-email"))
    # The clear token never travelled through Kafka: the events hold a reference only.
    assert token not in _outbox_text(db, account.id)

    verified = http.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200, verified.text
    assert http.get("/api/v1/auth/me", headers=account.headers).json()["email_verified"] is True
    assert http.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 400  # single use
    assert http.post("/api/v1/auth/verify-email", json={"token": "made-up"}).status_code == 400

    # Recorded once, with the provider's id.
    rows = notification_db.execute(
        "SELECT status, provider_message_id, attempts FROM sends WHERE user_id = %s AND channel = 'email'",
        (account.id,)).fetchall()
    assert len(rows) == 1 and rows[0][0] == "sent" and rows[0][1] and rows[0][2] == 1, rows
    assert len([m for m in fetch_emails(aws, account.email) if "verify-email" in " ".join(m.links)]) == 1


def test_password_reset_mail_resets_the_password(http: httpx.Client, db, aws: str) -> None:
    account = register(http)
    unknown = http.post("/api/v1/auth/password/forgot", json={"email": unique_email()})
    known = http.post("/api/v1/auth/password/forgot", json={"email": account.email})
    assert unknown.status_code == known.status_code == 202  # no account enumeration
    assert unknown.json() == known.json()

    mail = wait_for_email(aws, account.email, match=lambda m: any("reset-password" in u for u in m.links),
                          timeout=MAIL_TIMEOUT)
    token = _token(_link(mail, "reset-password"))
    assert token not in _outbox_text(db, account.id)
    weak = http.post("/api/v1/auth/password/reset", json={"token": token, "new_password": "12345678"})
    assert weak.status_code == 422
    reset = http.post("/api/v1/auth/password/reset", json={"token": token, "new_password": "Brand-new-pass-2"})
    assert reset.status_code == 204, reset.text
    # Every refresh token is revoked, the old password is dead, the new one works, the token is spent.
    assert http.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh}).status_code == 401
    assert http.post("/api/v1/auth/login", json={"email": account.email, "password": account.password}
                     ).status_code == 401
    assert http.post("/api/v1/auth/login", json={"email": account.email, "password": "Brand-new-pass-2"}
                     ).status_code == 200
    assert http.post("/api/v1/auth/password/reset", json={"token": token, "new_password": "Another-pass-3"}
                     ).status_code == 400


def test_enrollment_confirmation_by_mail_and_in_app(http: httpx.Client, db, aws: str, instructor: Account,
                                                    student: Account, notification_db) -> None:
    course_id, _ = _published_course(http, db, instructor)
    title = db.execute("SELECT title FROM courses WHERE id = %s", (course_id,)).fetchone()[0]
    enrolled = http.post("/api/v1/enrollments", json={"course_id": course_id}, headers=student.headers)
    assert enrolled.status_code == 201, enrolled.text

    mail = wait_for_email(aws, student.email, match=lambda m: title in m.subject or title in m.text,
                          timeout=MAIL_TIMEOUT)
    assert mail.source.endswith("smartcourse.local")

    def feed() -> list[dict]:
        response = http.get("/api/v1/notifications/me", headers=student.headers)
        assert response.status_code == 200, response.text
        return [n for n in response.json()["items"] if title in json.dumps(n)]

    items = _wait(feed, what="the in-app enrollment notification")
    assert len(items) == 1 and items[0]["read_at"] is None
    unread = http.get("/api/v1/notifications/me", params={"unread": "true"}, headers=student.headers).json()
    assert items[0]["id"] in [n["id"] for n in unread["items"]]
    # Someone else cannot mark it read; the owner can.
    assert http.post(f"/api/v1/notifications/{items[0]['id']}/read", headers=instructor.headers).status_code == 404
    assert http.post(f"/api/v1/notifications/{items[0]['id']}/read", headers=student.headers).status_code == 204
    unread = http.get("/api/v1/notifications/me", params={"unread": "true"}, headers=student.headers).json()
    assert items[0]["id"] not in [n["id"] for n in unread["items"]]
    enrollment_event = db.execute("SELECT event_id::text FROM outbox WHERE aggregate_id = %s AND "
                                  "event_type = 'enrollment.created'", (enrolled.json()["id"],)).fetchone()[0]
    assert count(notification_db, "SELECT count(*) FROM sends WHERE event_id = %s AND user_id = %s",
                 enrollment_event, student.id) == 2  # email + in_app, once each


def test_email_opt_out_is_honoured_but_transactional_mail_is_not(http: httpx.Client, db, aws: str,
                                                                 instructor: Account, student: Account) -> None:
    prefs = http.get("/api/v1/notifications/preferences", headers=student.headers)
    assert prefs.status_code == 200, prefs.text
    body = prefs.json() | {"email": False}
    body.pop("updated_at", None)
    assert http.put("/api/v1/notifications/preferences", json=body, headers=student.headers).status_code == 200
    course_id, _ = _published_course(http, db, instructor)
    title = db.execute("SELECT title FROM courses WHERE id = %s", (course_id,)).fetchone()[0]
    assert http.post("/api/v1/enrollments", json={"course_id": course_id},
                     headers=student.headers).status_code == 201
    # The in-app notification arrives; no enrollment mail does.
    _wait(lambda: [n for n in http.get("/api/v1/notifications/me", headers=student.headers).json()["items"]
                   if title in json.dumps(n)], what="the in-app notification")
    assert not [m for m in fetch_emails(aws, student.email) if title in m.subject or title in m.text]
    # Password reset is transactional: it still arrives.
    assert http.post("/api/v1/auth/password/forgot", json={"email": student.email}).status_code == 202
    wait_for_email(aws, student.email, match=lambda m: any("reset-password" in u for u in m.links),
                   timeout=MAIL_TIMEOUT)


def test_completing_a_course_mails_a_working_certificate_link(http: httpx.Client, db, aws: str,
                                                              instructor: Account, student: Account) -> None:
    course_id, assets = _published_course(http, db, instructor, assets=1)
    assert http.post("/api/v1/enrollments", json={"course_id": course_id},
                     headers=student.headers).status_code == 201
    done = http.post(f"/api/v1/progress/assets/{assets[0]}", json={"progress_percent": 100},
                     headers=student.headers)
    assert done.status_code == 200, done.text
    serial = db.execute("SELECT serial_no FROM certificates WHERE id = %s",
                        (done.json()["certificate_id"],)).fetchone()[0]

    mail = wait_for_email(aws, student.email, match=lambda m: any(serial in u for u in m.links),
                          timeout=MAIL_TIMEOUT)
    verified = httpx.get(_link(mail, serial), timeout=30)
    assert verified.status_code == 200, verified.text
    assert verified.json()["valid"] is True and verified.json()["serial_no"] == serial


def test_every_mail_recorded_as_sent_went_out_exactly_once(notification_db, aws: str, cloud) -> None:
    """The ledger and the provider agree: each email send recorded ``sent`` carries the id of exactly one
    message the emulator's SES accepted, and no message was sent for a send not recorded as sent."""
    sent = dict(notification_db.execute(
        "SELECT provider_message_id, address FROM sends WHERE channel = 'email' AND status = 'sent'").fetchall())
    assert sent
    by_id: dict[str, int] = {}
    for mail in fetch_emails(aws):
        by_id[mail.message_id] = by_id.get(mail.message_id, 0) + 1
    assert all(by_id.get(message_id) == 1 for message_id in sent), "a recorded send without its one message"
    mail_from = cloud.runner.function_environment("notification-send")["MAIL_FROM"]
    ours = {m.message_id for m in fetch_emails(aws) if m.source == mail_from}
    unrecorded = ours - set(sent)
    # Every message from this cloud's sender is a recorded send (other tests send from other addresses).
    assert not unrecorded, f"{len(unrecorded)} message(s) without a sent record"
