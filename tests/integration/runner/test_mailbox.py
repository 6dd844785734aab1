"""Reading sent mail and SMS back from the AWS emulator (localcloud.mailbox, ``make mail``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import boto3
import pytest
from localcloud.mailbox import (
    SentEmail,
    SentSms,
    emulator_endpoint,
    fetch_emails,
    fetch_messages,
    fetch_sms,
    html_to_text,
    wait_for_email,
    wait_for_sms,
)

from tests.support.paths import pythonpath

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SENDER = "no-reply@mailbox-test.local"


@pytest.fixture(scope="module")
def sent(moto) -> dict[str, str]:
    """One email of each kind and an SMS, to unique recipients."""
    tag = uuid.uuid4().hex[:8]
    ses = boto3.client("ses")
    ses.verify_domain_identity(Domain="mailbox-test.local")
    recipients = {kind: f"{kind}-{tag}@example.com" for kind in ("html", "text", "raw", "v2")}
    ses.send_email(Source=SENDER, Destination={"ToAddresses": [recipients["html"]], "CcAddresses": ["cc@example.com"]},
                   Message={"Subject": {"Data": f"Verify your email {tag}"},
                            "Body": {"Text": {"Data": "plain"},
                                     "Html": {"Data": f'<html><body><p>Hello,</p><p><a href="http://127.0.0.1:3000/'
                                                      f'verify?token=abc&amp;u={tag}">Verify</a></p></body></html>'}}})
    ses.send_email(Source=SENDER, Destination={"ToAddresses": [recipients["text"]]},
                   Message={"Subject": {"Data": f"Welcome {tag}"},
                            "Body": {"Text": {"Data": f"Welcome aboard.\nStart at http://127.0.0.1:8000/courses?t={tag}."}}})
    mime = EmailMessage()
    mime["Subject"], mime["From"], mime["To"] = f"Certificate {tag}", SENDER, recipients["raw"]
    mime["Date"] = format_datetime(datetime(2026, 11, 24, 20, 0, tzinfo=UTC))
    mime.set_content(f"Your certificate: http://127.0.0.1:8000/certificates/{tag}")
    mime.add_alternative(f"<p>Your <b>certificate</b>: <a href='http://127.0.0.1:8000/certificates/{tag}'>open</a></p>",
                         subtype="html")
    if moto.serves("sesv2"):
        boto3.client("sesv2").send_email(FromEmailAddress=SENDER, Destination={"ToAddresses": [recipients["raw"]]},
                                         Content={"Raw": {"Data": mime.as_bytes()}})
        boto3.client("sesv2").send_email(FromEmailAddress=SENDER, Destination={"ToAddresses": [recipients["v2"]]},
                                         Content={"Simple": {"Subject": {"Data": f"Enrolled {tag}"},
                                                             "Body": {"Text": {"Data": "You are enrolled."}}}})
    else:  # LocalStack's community edition has no SES v2 API (LocalStackService.UNSERVED_APIS): the v1 calls
        ses.send_raw_email(Source=SENDER, Destinations=[recipients["raw"]], RawMessage={"Data": mime.as_bytes()})
        ses.send_email(Source=SENDER, Destination={"ToAddresses": [recipients["v2"]]},
                       Message={"Subject": {"Data": f"Enrolled {tag}"},
                                "Body": {"Text": {"Data": "You are enrolled."}}})
    phone = f"+1555{int(tag, 16) % 10_000_000:07d}"
    boto3.client("sns").publish(PhoneNumber=phone, Message=f"SmartCourse code {tag}")
    return {**recipients, "tag": tag, "phone": phone}


def test_emails_of_every_kind_are_read_back(moto, sent: dict[str, str]) -> None:
    tag = sent["tag"]
    (html_mail,) = fetch_emails(moto.endpoint, to=sent["html"])
    assert html_mail.subject == f"Verify your email {tag}" and html_mail.source == SENDER
    assert html_mail.to == [sent["html"]] and html_mail.cc == ["cc@example.com"]
    # moto keeps only the HTML body (the text is derived from it); LocalStack keeps both parts.
    assert html_mail.html is not None and "Hello," in html_to_text(html_mail.html)
    assert html_mail.text in ("plain", html_to_text(html_mail.html))
    assert html_mail.links == [f"http://127.0.0.1:3000/verify?token=abc&u={tag}"]

    (text_mail,) = fetch_emails(moto.endpoint, to=sent["text"].upper())
    assert text_mail.html is None and text_mail.text.startswith("Welcome aboard.")
    assert text_mail.links == [f"http://127.0.0.1:8000/courses?t={tag}"]

    (raw_mail,) = fetch_emails(moto.endpoint, to=sent["raw"])
    assert raw_mail.subject == f"Certificate {tag}" and raw_mail.to == [sent["raw"]]
    assert raw_mail.text == f"Your certificate: http://127.0.0.1:8000/certificates/{tag}"
    assert raw_mail.html is not None and "<b>certificate</b>" in raw_mail.html
    assert raw_mail.time == datetime(2026, 11, 24, 20, 0, tzinfo=UTC)

    (v2_mail,) = fetch_emails(moto.endpoint, to=sent["v2"])
    assert (v2_mail.subject, v2_mail.text) == (f"Enrolled {tag}", "You are enrolled.")


def test_sms_are_read_back(moto, sent: dict[str, str]) -> None:
    (sms,) = fetch_sms(moto.endpoint, sent["phone"])
    assert sms.message == f"SmartCourse code {sent['tag']}" and sms.message_id
    everything = fetch_messages(moto.endpoint)
    assert any(isinstance(m, SentSms) for m in everything) and any(isinstance(m, SentEmail) for m in everything)


def test_waiting_for_mail(moto, sent: dict[str, str]) -> None:
    assert wait_for_email(moto.endpoint, sent["html"], subject_contains="verify").message_id
    assert wait_for_sms(moto.endpoint, sent["phone"], contains=sent["tag"]).phone_number == sent["phone"]
    with pytest.raises(AssertionError, match=r"no email to nobody@example\.com"):
        wait_for_email(moto.endpoint, "nobody@example.com", timeout=0.3)
    with pytest.raises(AssertionError):
        wait_for_email(moto.endpoint, sent["html"], subject_contains="no such subject", timeout=0.3)


def test_html_to_text() -> None:
    text = html_to_text("<html><head><style>p{}</style></head><body><h1>Hi&amp;bye</h1>"
                        "<p>Go <a href='http://x/y'>there</a></p></body></html>")
    assert text == "Hi&bye\n\nGo there (http://x/y)"


def test_the_endpoint_comes_from_the_environment_or_endpoints_json(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert emulator_endpoint(tmp_path) is None
    (tmp_path / "endpoints.json").write_text(json.dumps({"aws": "http://127.0.0.1:4999"}))
    assert emulator_endpoint(tmp_path) == "http://127.0.0.1:4999"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    assert emulator_endpoint(tmp_path) == "http://127.0.0.1:5000"


def _env(endpoint: str) -> dict[str, str]:
    return {**os.environ, "AWS_ENDPOINT_URL": endpoint,
            "PYTHONPATH": pythonpath()}


def test_cli_json(moto, sent: dict[str, str]) -> None:
    out = subprocess.run([sys.executable, "-m", "localcloud", "mail", "--limit", "100", "--json"], cwd=ROOT,
                         env=_env(moto.endpoint), capture_output=True, text=True, check=True, timeout=60).stdout
    data = json.loads(out)
    by_recipient = {tuple(m["to"]): m for m in data["emails"]}
    assert by_recipient[(sent["raw"],)]["time"] == "2026-11-24T20:00:00+00:00"
    assert by_recipient[(sent["html"],)]["links"] == [f"http://127.0.0.1:3000/verify?token=abc&u={sent['tag']}"]
    assert {"phone_number": sent["phone"], "message": f"SmartCourse code {sent['tag']}"}.items() <= next(
        m for m in data["sms"] if m["phone_number"] == sent["phone"]).items()


def test_make_mail(moto, sent: dict[str, str]) -> None:
    result = subprocess.run(["make", "--no-print-directory", "mail", "LIMIT=100"], cwd=ROOT, env=_env(moto.endpoint),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"AWS emulator: {moto.endpoint}" in out
    assert f"Subject: Verify your email {sent['tag']}" in out and f"-> {sent['html']}, cc@example.com" in out
    assert f"{sent['phone']}: SmartCourse code {sent['tag']}" in out
    assert f"[2026-11-24 20:00:00] {SENDER} -> {sent['raw']}" in out


def test_cli_without_an_emulator(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "localcloud", "mail", "--endpoint", "http://127.0.0.1:9"],
                            cwd=ROOT, env=_env("http://127.0.0.1:9"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Cannot read the AWS emulator at http://127.0.0.1:9" in result.stdout
