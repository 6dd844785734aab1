"""The mail and SMS sent through the AWS emulator, read back for developers (``make mail``) and e2e tests.

One interface over both emulators (``localcloud.services``); which one answers at an endpoint is asked of the
endpoint itself (LocalStack answers ``/_localstack/health``), so ``make mail`` needs no configuration.

moto's server keeps every sent SES message and SNS SMS in memory and exposes
its models at ``GET /moto-api/data.json`` (the dashboard's data): SES
``Message`` (SendEmail, SESv2 Simple: moto keeps the HTML body when there is
one, else the text), ``RawMessage`` (SendRawEmail, SESv2 Raw: the whole MIME
document), ``TemplateMessage``, and SNS ``SMS``. Within a kind they are in send
order; moto records no send time, so ``time`` comes from a raw message's
``Date`` header, else it is None.

LocalStack keeps every sent SES message at ``GET /_aws/ses`` (in send order, with
its send time; SendEmail keeps both the text and the HTML part, where moto
keeps only one) and every SMS at ``GET /_aws/sns/sms-messages`` (per phone
number, in send order; no send time).

    from localcloud.mailbox import fetch_emails, wait_for_email
    mail = wait_for_email(endpoint, to="ada@example.com", subject_contains="Verify")
    token_link = mail.links[0]
"""

from __future__ import annotations

import contextlib
import dataclasses
import email
import email.policy
import html
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

DATA_PATH = "/moto-api/data.json"
LOCALSTACK_HEALTH_PATH = "/_localstack/health"
LOCALSTACK_SES_PATH = "/_aws/ses"
LOCALSTACK_SMS_PATH = "/_aws/sns/sms-messages"
URL_PATTERN = re.compile(r"https?://[^\s\"'<>)]+")
HTML_PATTERN = re.compile(r"<(html|body|p|div|a|br|table|h[1-6])\b", re.IGNORECASE)


@dataclass(frozen=True)
class SentEmail:
    message_id: str
    source: str
    to: list[str]
    subject: str
    text: str  # the plain-text body (derived from the HTML when only HTML was kept)
    html: str | None = None
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    time: datetime | None = None
    kind: str = "email"

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]

    @property
    def links(self) -> list[str]:
        """Every http(s) URL in the message, HTML entities decoded, first seen first."""
        found: list[str] = []
        for source in (self.text, self.html or ""):
            for url in URL_PATTERN.findall(source):
                url = html.unescape(url).rstrip(".,;")
                if url not in found:
                    found.append(url)
        return found

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat() if self.time else None
        data["links"] = self.links
        return data


@dataclass(frozen=True)
class SentSms:
    message_id: str
    phone_number: str
    message: str
    time: datetime | None = None
    kind: str = "sms"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat() if self.time else None
        return data


class _TextExtractor(HTMLParser):
    """HTML to readable text: block elements become line breaks, links keep their target."""

    BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head", "title"):
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag == "a":
            self._href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag == "a" and self._href:
            self.parts.append(f" ({self._href})")
            self._href = None
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _addresses(value: Any) -> list[str]:
    if not value:
        return []
    values = value if isinstance(value, list) else [value]
    return [address for _, address in getaddresses([str(v) for v in values]) if address]


def _simple(item: dict[str, Any]) -> SentEmail:
    body = str(item.get("body") or "")
    destinations = item.get("destinations") or {}
    is_html = bool(HTML_PATTERN.search(body))
    return SentEmail(
        message_id=str(item.get("id")), source=str(item.get("source") or ""),
        to=list(destinations.get("ToAddresses") or []), cc=list(destinations.get("CcAddresses") or []),
        bcc=list(destinations.get("BccAddresses") or []), subject=str(item.get("subject") or ""),
        text=html_to_text(body) if is_html else body, html=body if is_html else None,
    )


def _raw(item: dict[str, Any]) -> SentEmail:
    message = email.message_from_string(str(item.get("raw_data") or ""), policy=email.policy.default)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    markup = html_part.get_content() if html_part is not None else None
    text = text_part.get_content() if text_part is not None else html_to_text(markup or "")
    to, cc = _addresses(message.get_all("To")), _addresses(message.get_all("Cc"))
    destinations = [str(d) for d in item.get("destinations") or []]
    when = None
    if message.get("Date"):
        try:
            when = parsedate_to_datetime(str(message["Date"]))
        except (TypeError, ValueError):
            when = None
    return SentEmail(
        message_id=str(item.get("id")), source=str(item.get("source") or message.get("From") or ""),
        to=to or destinations, cc=cc, bcc=[d for d in destinations if d not in to and d not in cc],
        subject=str(message.get("Subject") or ""), text=text.strip(), html=markup, time=when,
    )


def _templated(item: dict[str, Any]) -> SentEmail:
    destinations = item.get("destinations") or {}
    return SentEmail(
        message_id=str(item.get("id")), source=str(item.get("source") or ""),
        to=list(destinations.get("ToAddresses") or []) if isinstance(destinations, dict) else [],
        subject=f"(template {item.get('template')})", text=str(item.get("template_data") or ""),
    )


def _get_json(endpoint: str, path: str, timeout: float) -> dict[str, Any]:
    with urllib.request.urlopen(endpoint.rstrip("/") + path, timeout=timeout) as response:  # noqa: S310
        return dict(json.load(response))


def model_data(endpoint: str, timeout: float = 10.0) -> dict[str, Any]:
    return _get_json(endpoint, DATA_PATH, timeout)


_KINDS: dict[str, str] = {}


def emulator_at(endpoint: str, timeout: float = 10.0) -> str:
    """``localstack`` or ``moto``: which emulator serves ``endpoint`` (asked once per endpoint)."""
    if endpoint not in _KINDS:
        try:
            _get_json(endpoint, LOCALSTACK_HEALTH_PATH, timeout)
            _KINDS[endpoint] = "localstack"
        except urllib.error.HTTPError:  # moto's server answers 404: it is moto
            _KINDS[endpoint] = "moto"
    return _KINDS[endpoint]


def fetch_messages(endpoint: str, timeout: float = 10.0) -> list[SentEmail | SentSms]:
    """Every email (in send order), then every SMS (in send order), sent through the emulator at ``endpoint``."""
    if emulator_at(endpoint, timeout) == "localstack":
        return _localstack_messages(endpoint, timeout)
    return _moto_messages(endpoint, timeout)


def _localstack_email(item: dict[str, Any]) -> SentEmail:
    when = None
    if item.get("Timestamp"):
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(str(item["Timestamp"])).replace(tzinfo=UTC)  # LocalStack writes UTC
    destination = item.get("Destination") or {}
    common = {"id": item.get("Id"), "source": item.get("Source")}
    if item.get("RawData") is not None:
        mail = _raw({**common, "raw_data": item["RawData"], "destinations": destination.get("ToAddresses")})
    elif item.get("Template") is not None:
        mail = _templated({**common, "template": item["Template"], "template_data": item.get("TemplateData"),
                           "destinations": destination})
    else:
        body = item.get("Body") or {}
        markup, text = body.get("html_part"), body.get("text_part")
        mail = SentEmail(
            message_id=str(item.get("Id")), source=str(item.get("Source") or ""),
            to=list(destination.get("ToAddresses") or []), cc=list(destination.get("CcAddresses") or []),
            bcc=list(destination.get("BccAddresses") or []), subject=str(item.get("Subject") or ""),
            text=str(text) if text is not None else html_to_text(str(markup or "")), html=markup,
        )
    return dataclasses.replace(mail, time=mail.time or when)  # a raw message's Date header, as for moto


def _localstack_messages(endpoint: str, timeout: float) -> list[SentEmail | SentSms]:
    messages: list[SentEmail | SentSms] = [
        _localstack_email(item) for item in _get_json(endpoint, LOCALSTACK_SES_PATH, timeout).get("messages") or []]
    by_number = _get_json(endpoint, LOCALSTACK_SMS_PATH, timeout).get("sms_messages") or {}
    messages += [SentSms(str(item.get("MessageId")), str(item.get("PhoneNumber") or number), str(item.get("Message")))
                 for number, items in by_number.items() for item in items]
    return messages


def _moto_messages(endpoint: str, timeout: float) -> list[SentEmail | SentSms]:
    data = model_data(endpoint, timeout)
    ses, sns = data.get("ses") or {}, data.get("sns") or {}
    messages: list[SentEmail | SentSms] = []
    messages += [_simple(item) for item in ses.get("Message") or []]
    messages += [_raw(item) for item in ses.get("RawMessage") or []]
    messages += [_templated(item) for item in ses.get("TemplateMessage") or []]
    messages += [SentSms(str(item.get("message_id")), str(item.get("phone_number")), str(item.get("message")))
                 for item in sns.get("SMS") or []]
    return messages


def fetch_emails(endpoint: str, to: str | None = None) -> list[SentEmail]:
    """The emails sent, to ``to`` (any of To/Cc/Bcc, case-insensitive) when given."""
    emails = [m for m in fetch_messages(endpoint) if isinstance(m, SentEmail)]
    if to is None:
        return emails
    wanted = to.lower()
    return [m for m in emails if wanted in (r.lower() for r in m.recipients)]


def fetch_sms(endpoint: str, phone_number: str | None = None) -> list[SentSms]:
    texts = [m for m in fetch_messages(endpoint) if isinstance(m, SentSms)]
    return [m for m in texts if phone_number is None or m.phone_number == phone_number]


def wait_for_email(endpoint: str, to: str, *, subject_contains: str | None = None,
                   match: Callable[[SentEmail], bool] | None = None, timeout: float = 15.0,
                   interval: float = 0.25) -> SentEmail:
    """The first email to ``to`` matching the filters, polling until ``timeout`` (then AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        for mail in fetch_emails(endpoint, to):
            if subject_contains is not None and subject_contains.lower() not in mail.subject.lower():
                continue
            if match is None or match(mail):
                return mail
        if time.monotonic() > deadline:
            seen = [(m.subject, m.recipients) for m in fetch_emails(endpoint)][-10:]
            raise AssertionError(f"no email to {to} (subject containing {subject_contains!r}) after {timeout}s; "
                                 f"latest sent: {seen}")
        time.sleep(interval)


def wait_for_sms(endpoint: str, phone_number: str, *, contains: str | None = None, timeout: float = 15.0,
                 interval: float = 0.25) -> SentSms:
    deadline = time.monotonic() + timeout
    while True:
        for sms in fetch_sms(endpoint, phone_number):
            if contains is None or contains in sms.message:
                return sms
        if time.monotonic() > deadline:
            raise AssertionError(f"no SMS to {phone_number} containing {contains!r} after {timeout}s")
        time.sleep(interval)


def emulator_endpoint(state_dir: Path | None = None) -> str | None:
    """AWS_ENDPOINT_URL, else the running local cloud's emulator (its ``endpoints.json``)."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return os.environ["AWS_ENDPOINT_URL"]
    if state_dir is None:
        from localcloud.synth import ROOT

        state_dir = ROOT / ".localcloud"
    path = state_dir / "endpoints.json"
    if path.exists():
        aws = json.loads(path.read_text()).get("aws")
        return str(aws) if aws else None
    return None


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def render(messages: list[SentEmail | SentSms], limit: int) -> str:
    emails = [m for m in messages if isinstance(m, SentEmail)]
    texts = [m for m in messages if isinstance(m, SentSms)]
    lines = [f"Emails: {len(emails)} sent" + (f", the latest {limit}" if len(emails) > limit else "")
             + " (oldest first)"]
    for mail in emails[-limit:] if limit else []:
        when = f"[{mail.time.strftime('%Y-%m-%d %H:%M:%S')}] " if mail.time else ""
        lines.append(f"  {when}{mail.source} -> {', '.join(mail.recipients)}")
        lines.append(f"      Subject: {mail.subject}")
        lines.append(f"      {_one_line(mail.text, 160)}")
        for link in mail.links[:3]:
            lines.append(f"      link: {link}")
    lines.append(f"SMS: {len(texts)} sent" + (f", the latest {limit}" if len(texts) > limit else ""))
    for sms in texts[-limit:] if limit else []:
        when = f"[{sms.time.strftime('%Y-%m-%d %H:%M:%S')}] " if sms.time else ""
        lines.append(f"  {when}{sms.phone_number}: {_one_line(sms.message, 160)}")
    return "\n".join(lines)


def main(limit: int = 10, as_json: bool = False, endpoint: str | None = None) -> int:
    endpoint = endpoint or emulator_endpoint()
    if not endpoint:
        print("No AWS emulator found: start the local cloud (make run) or set AWS_ENDPOINT_URL.")
        return 1
    try:
        messages = fetch_messages(endpoint)
    except OSError as exc:
        print(f"Cannot read the AWS emulator at {endpoint} ({exc}); is the local cloud (make run) running?")
        return 1
    if as_json:
        emails = [m for m in messages if isinstance(m, SentEmail)][-limit:] if limit else []
        texts = [m for m in messages if isinstance(m, SentSms)][-limit:] if limit else []
        print(json.dumps({"endpoint": endpoint, "emails": [m.as_dict() for m in emails],
                          "sms": [m.as_dict() for m in texts]}, indent=2))
    else:
        print(f"AWS emulator: {endpoint}")
        print(render(messages, limit))
    return 0
