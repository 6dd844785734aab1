"""The sender: delivers one queued send (SQS message ``{"send_id": ...}``) at most once.

A send is claimed atomically (``queued`` → ``sending``, one attempt more) and the claim commits before any
provider call, so a crash mid-send leaves ``sending`` behind; the next delivery of the message then marks
it ``unknown`` instead of sending twice. A provider error that surely delivered nothing (the API answered
with an error, or could not be reached) puts the send back to ``queued`` and fails the record, so SQS
retries it after the visibility timeout; on the last allowed receive it is marked ``failed`` and the
message moves on to the queue's DLQ. Clear tokens and message bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError
from smartcourse.settings import Settings, get_settings
from sqlalchemy import Engine

from smartcourse_notification import repository as repo
from smartcourse_notification.aws import client
from smartcourse_notification.domain import Channel, SendStatus
from smartcourse_notification.rendering import MissingVariables, Rendered, TokenLink, render, template_spec
from smartcourse_notification.rules import COURSE_KEY, LINK_KEY

log = logging.getLogger("smartcourse_notification.sender")

# How long one attempt waits for a projection still on its way (its event may be in the consumer's batch).
PROJECTION_WAIT_SECONDS = 5.0
# One record at worst: the projection wait, then the token exchange and the provider call, each at their client
# timeouts (aws.py), plus a margin. A record is claimed only with this much time left in the invocation: a
# timeout mid-send would leave the send ``sending`` and so, at most once, never delivered (``unknown``).
RECORD_WORST_CASE_MS = int(1000 * (PROJECTION_WAIT_SECONDS + 2 * (3 + 8))) + 2_000


class OutOfTime(RuntimeError):
    """Too little time left in this invocation to deliver one more send safely: retried soon, not claimed."""
PROJECTION_POLL_SECONDS = 0.25


def max_receives() -> int:
    """Receives of one message before SQS dead-letters it: the send queue's redrive maxReceiveCount."""
    return get_settings().trigger_queue_max_receives


class ProjectionNotReady(RuntimeError):
    """The recipient or course projection has not arrived yet (another topic): retried through SQS."""


class SendNotFound(RuntimeError):
    """The message arrived before its row committed (or the event transaction rolled back): retried."""


class DeliveryFailed(RuntimeError):
    """A provider refused or could not be reached; the send is retried through SQS."""


class TokenUnavailable(RuntimeError):
    """The LMS token function could not be invoked; retried."""


class TokenRejected(RuntimeError):
    """The LMS says the token reference is unknown, used or expired: nothing to send any more."""


@dataclass(frozen=True)
class Outcome:
    send_id: uuid.UUID
    status: str  # sent | skipped | failed | unknown, or the status found when nothing was done
    acted: bool  # False: the send was not queued (done before, or in flight): nothing was delivered now


def issue_token(purpose: str, token_ref: str, settings: Settings) -> str:
    """Exchange a token reference for a clear one-time token through the LMS function (synchronous invoke)."""
    if not settings.token_issuer_function:
        raise TokenUnavailable("TOKEN_ISSUER_FUNCTION is not set")
    try:
        response = client("lambda").invoke(
            FunctionName=settings.token_issuer_function, InvocationType="RequestResponse",
            Payload=json.dumps({"purpose": purpose, "token_ref": token_ref}).encode())
        result = json.loads(response["Payload"].read() or b"null")
    except (BotoCoreError, ClientError, ValueError) as exc:
        raise TokenUnavailable(f"token issuer invocation failed: {type(exc).__name__}") from exc
    if response.get("FunctionError") or not isinstance(result, dict):
        raise TokenUnavailable("token issuer failed")
    if isinstance(result.get("token"), str) and result["token"]:
        return str(result["token"])
    raise TokenRejected(str(result.get("error") or "no token"))


def token_url(link: TokenLink, token: str, settings: Settings) -> str:
    return f"{settings.app_base_url.rstrip('/')}{link.path}?token={quote(token, safe='')}"


class Sender:
    def __init__(self, engine: Callable[[], Engine], *, settings: Callable[[], Settings] = get_settings,
                 token_issuer: Callable[[str, str, Settings], str] = issue_token,
                 projection_wait_seconds: float = PROJECTION_WAIT_SECONDS) -> None:
        self._engine = engine
        self._settings = settings
        self._issue_token = token_issuer
        self._projection_wait = projection_wait_seconds

    def process(self, send_id: uuid.UUID, receive_count: int = 1) -> Outcome:
        with self._engine().connect() as conn:
            current = repo.get_send(conn, send_id)
        if current is None:
            raise SendNotFound(f"send {send_id} not found (yet)")
        if current.status != SendStatus.QUEUED:
            return self._not_queued(current)
        try:
            context, address = self._resolve(current)
        except ProjectionNotReady as exc:
            last = receive_count >= max_receives()
            self._finish(send_id, SendStatus.FAILED if last else SendStatus.QUEUED, error=str(exc),
                         from_status=SendStatus.QUEUED)
            raise
        if current.channel == Channel.IN_APP.value:
            return self._deliver_in_app(current, context)
        claimed = self._claim(send_id)
        if isinstance(claimed, Outcome):
            return claimed
        settings = self._settings()
        try:
            rendered = self._render(claimed, context, settings)
        except TokenRejected as exc:
            return self._finish(send_id, SendStatus.SKIPPED, error=f"token no longer valid: {exc}")
        except MissingVariables as exc:  # a planning bug: retrying cannot help
            return self._finish(send_id, SendStatus.FAILED, error=str(exc))
        except TokenUnavailable as exc:
            self._retry_or_fail(send_id, str(exc), receive_count)
            raise
        try:
            if claimed.channel == Channel.EMAIL.value:
                message_id = self._email(address, rendered, settings)
            elif claimed.channel == Channel.SMS.value:
                if self._opted_out(address):
                    return self._finish(send_id, SendStatus.SKIPPED, error="phone number opted out of SMS")
                message_id = self._sms(address, rendered)
            else:
                return self._finish(send_id, SendStatus.FAILED, error=f"unknown channel {claimed.channel}")
        except (ClientError, ConnectTimeoutError, EndpointConnectionError) as exc:
            # The provider answered with an error, or was never reached: nothing was delivered.
            self._retry_or_fail(send_id, _describe(exc), receive_count)
            raise DeliveryFailed(f"send {send_id}: {_log_safe(_describe(exc))}") from exc
        except BotoCoreError as exc:
            # E.g. a read timeout: the provider may have delivered. At most once: do not try again.
            return self._finish(send_id, SendStatus.UNKNOWN, error=_describe(exc))
        outcome = self._finish(send_id, SendStatus.SENT, provider_message_id=message_id, address=address)
        log.info("send delivered", extra={"send_id": str(send_id), "template": claimed.template,
                                          "channel": claimed.channel})
        return outcome

    # --- steps ------------------------------------------------------------------------------------------

    def _not_queued(self, current: repo.SendRecord) -> Outcome:
        if current.status != SendStatus.SENDING:
            return Outcome(current.id, current.status, acted=False)  # done before: a duplicate message
        # A previous attempt died between claim and outcome: it may have delivered.
        with self._engine().begin() as conn:
            repo.finish_send(conn, current.id, SendStatus.UNKNOWN, from_status=SendStatus.SENDING,
                             error="an earlier attempt ended mid-send; not sent again")
        log.warning("send outcome unknown", extra={"send_id": str(current.id)})
        return Outcome(current.id, SendStatus.UNKNOWN, acted=False)

    def _claim(self, send_id: uuid.UUID) -> repo.SendRecord | Outcome:
        with self._engine().begin() as conn:
            claimed = repo.claim_send(conn, send_id)
            current = claimed or repo.get_send(conn, send_id)
        if claimed is not None:
            return claimed
        if current is None:
            raise SendNotFound(f"send {send_id} not found (yet)")
        return self._not_queued(current)

    def _resolve(self, send: repo.SendRecord) -> tuple[dict[str, Any], str]:
        """The template context completed from the projections, and the address; waits a little for them."""
        deadline = time.monotonic() + self._projection_wait
        course_id = send.context.get(COURSE_KEY) if "course_title" not in send.context else None
        while True:
            with self._engine().connect() as conn:
                recipient = repo.get_recipient(conn, send.user_id)
                course = repo.get_course(conn, uuid.UUID(str(course_id))) if course_id else None
            missing = [what for what, ok in (("recipient", recipient), ("course", course or not course_id)) if not ok]
            if not missing:
                break
            if time.monotonic() >= deadline:
                raise ProjectionNotReady(f"{' and '.join(missing)} not known yet")
            time.sleep(PROJECTION_POLL_SECONDS)
        assert recipient is not None
        context: dict[str, Any] = {"recipient_name": recipient.display_name, **send.context}
        if course is not None:
            context["course_title"] = course.title
        address = recipient.email if send.channel == Channel.EMAIL.value else (send.address or "")
        return context, address

    def _deliver_in_app(self, send: repo.SendRecord, context: dict[str, Any]) -> Outcome:
        """No provider: the feed row and the ``sent`` status commit together, so exactly once."""
        try:
            rendered = render(send.template, context)
        except MissingVariables as exc:
            return self._finish(send.id, SendStatus.FAILED, error=str(exc))
        with self._engine().begin() as conn:
            claimed = repo.claim_send(conn, send.id)
            if claimed is not None:
                repo.insert_notification(conn, id=send.id, user_id=send.user_id, event_id=send.event_id,
                                         template=send.template, title=rendered.subject,
                                         body=rendered.in_app or rendered.subject, link=context.get(LINK_KEY),
                                         category=template_spec(send.template).category.value)
                repo.finish_send(conn, send.id, SendStatus.SENT)
        if claimed is None:  # another delivery of the message got there first
            with self._engine().connect() as conn:
                current = repo.get_send(conn, send.id)
            return self._not_queued(current) if current else Outcome(send.id, "missing", acted=False)
        return Outcome(send.id, SendStatus.SENT, acted=True)

    def _render(self, send: repo.SendRecord, context: dict[str, Any], settings: Settings) -> Rendered:
        spec = template_spec(send.template)
        if spec.token is not None:
            ref = context.get(spec.token.ref_variable)
            if not ref:
                raise MissingVariables(send.template, [spec.token.ref_variable])
            context = {**context, spec.token.url_variable: token_url(
                spec.token, self._issue_token(spec.token.purpose, str(ref), settings), settings)}
        return render(send.template, context)

    def _email(self, address: str, rendered: Rendered, settings: Settings) -> str:
        body: dict[str, Any] = {"Text": {"Data": rendered.text or "", "Charset": "UTF-8"}}
        if rendered.html:
            body["Html"] = {"Data": rendered.html, "Charset": "UTF-8"}
        response = client("ses").send_email(
            Source=settings.mail_from,
            Destination={"ToAddresses": [address]},
            Message={"Subject": {"Data": rendered.subject, "Charset": "UTF-8"}, "Body": body},
        )
        return str(response["MessageId"])

    def _opted_out(self, phone_number: str) -> bool:
        return bool(client("sns").check_if_phone_number_is_opted_out(phoneNumber=phone_number)["isOptedOut"])

    def _sms(self, phone_number: str, rendered: Rendered) -> str:
        response = client("sns").publish(
            PhoneNumber=phone_number, Message=rendered.sms or rendered.subject,
            MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}})
        return str(response["MessageId"])

    def _finish(self, send_id: uuid.UUID, status: str, *, provider_message_id: str | None = None,
                error: str | None = None, from_status: str | None = None, address: str | None = None) -> Outcome:
        with self._engine().begin() as conn:
            repo.finish_send(conn, send_id, status, provider_message_id=provider_message_id, error=error,
                             from_status=from_status, address=address)
        if status != SendStatus.SENT:
            log.warning("send not delivered", extra={"send_id": str(send_id), "status": status,
                                                     "reason": _log_safe(error)})
        return Outcome(send_id, status, acted=True)

    def _retry_or_fail(self, send_id: uuid.UUID, error: str, receive_count: int) -> None:
        last = receive_count >= max_receives()
        with self._engine().begin() as conn:
            repo.finish_send(conn, send_id, SendStatus.FAILED if last else SendStatus.QUEUED, error=error,
                             from_status=SendStatus.SENDING)
        log.warning("send attempt failed", extra={"send_id": str(send_id), "receive_count": receive_count,
                                                  "final": last, "reason": _log_safe(error)})


def _log_safe(error: str | None) -> str | None:
    """The reason without what could name a person: provider messages quote addresses and numbers (SES
    sandbox: "... not verified ...: user@example.com"). The full text stays in the send's ``last_error``."""
    if error is None:
        return None
    return error.split(":", 1)[0][:100]


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'ClientError')}: {err.get('Message', '')}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


_sender: Sender | None = None


def get_sender() -> Sender:
    global _sender
    if _sender is None:
        from smartcourse.db.engine import get_engine

        _sender = Sender(get_engine)
    return _sender


def handle_record_body(body: str, receive_count: int, sender: Sender | None = None) -> Outcome:
    """One SQS record: its JSON body names the send; raising reports the record as failed (retried)."""
    try:
        send_id = uuid.UUID(str(json.loads(body)["send_id"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("malformed send message: expected {\"send_id\": \"<uuid>\"}") from exc
    return (sender or get_sender()).process(send_id, receive_count)


# Waiting for a projection or a committing plan is short work: retry after seconds, not the queue's
# visibility timeout (minutes, sized for slow providers).
EARLY_RETRY_ERRORS = (ProjectionNotReady, SendNotFound, OutOfTime)


def ensure_time_for_one_record(context: Any) -> None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None and remaining() < RECORD_WORST_CASE_MS:
        raise OutOfTime("too little time left in this invocation; the send is retried without being claimed")


def early_retry_delay(receive_count: int) -> int:
    return min(get_settings().notification_retry_delay_seconds * max(1, receive_count), 120)


def queue_url_of(arn: str) -> str:
    """The queue URL behind an SQS ARN (``arn:aws:sqs:<region>:<account>:<name>``)."""
    _, _, _, _, account, name = arn.split(":", 5)
    return str(client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def retry_soon(queue_arn: str, receipt_handle: str, receive_count: int) -> None:
    """Make a failed message visible again after a short delay; best effort (else the visibility timeout)."""
    try:
        client("sqs").change_message_visibility(QueueUrl=queue_url_of(queue_arn), ReceiptHandle=receipt_handle,
                                                VisibilityTimeout=early_retry_delay(receive_count))
    except (BotoCoreError, ClientError, ValueError) as exc:
        log.warning("could not shorten the retry delay", extra={"error": _describe(exc)})
