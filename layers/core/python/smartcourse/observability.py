"""Logs, traces and metrics of every function, from one place.

* ``METRICS_NAMESPACE`` and ``SERVICE_DIMENSION``: where every custom metric goes, and the dimension the
  stacks' alarms select a service by (the metric names themselves live next to what emits them, e.g.
  ``smartcourse.outbox.metrics``).
* ``logger``: Powertools Logger, one JSON object per line on stdout with ``service``, the invocation's
  ``function_name``/``function_request_id``/``cold_start`` and its ``correlation_id``. The loggers of the
  platform's own packages (``logging.getLogger(__name__)`` in the core, the services and the handlers) write
  through the same handler, so their lines are the same JSON.
* ``metrics``: Powertools Metrics (CloudWatch embedded metric format) in ``METRICS_NAMESPACE``, flushed at the
  end of every invocation.
* ``tracer``: Powertools Tracer when X-Ray can receive traces (in Lambda, unless ``POWERTOOLS_TRACE_DISABLED``);
  ``None`` elsewhere, so local runs and tests never import the X-Ray SDK. ``botocore`` is patched once it is
  loaded (no module is imported for the sake of patching it, which keeps init time down).
* SnapStart: the runtime hooks of ``smartcourse.snapstart`` are registered on import.
* ``observed(handler)``: the wrapper every Lambda entry point carries (a test holds every catalogued function
  to it).

The correlation id is ``smartcourse.context.correlation_id``: an HTTP request's ``X-Correlation-Id`` header
when it is a sane token, else API Gateway's request id; for events, the envelope's ``correlation_id`` (else its
``event_id``), bound per record by the consumer framework; otherwise the Lambda request id. The unit of work
stamps it on every event it writes, so one id follows a request through the outbox into every consumer.

Nothing here logs an event or a response: requests carry passwords and tokens, responses carry tokens. The
tracer is told not to record responses or errors as trace metadata for the same reason.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

from smartcourse import context as request_context
from smartcourse import snapstart
from smartcourse.catalogue import Service

METRICS_NAMESPACE = "SmartCourse"
# Powertools adds the function's service (POWERTOOLS_SERVICE_NAME) to every metric under this dimension.
SERVICE_DIMENSION = "service"
CORRELATION_HEADER = "X-Correlation-Id"
SQS_CORRELATION_ATTRIBUTE = "correlation_id"  # the message attribute of a queued piece of work

# What a caller may send as a correlation id: a short token (an event envelope allows 200 characters).
_SANE_CORRELATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}")
_MARKER = "__smartcourse_observed__"
# Modules the tracer instruments once they are loaded (AWS SDK calls: S3, SQS, SES, SNS, Secrets Manager, Lambda).
TRACED_MODULES = ("botocore",)

# The platform's own top-level packages: the core, the event contracts, each service's package and handlers.
OWN_PACKAGES = frozenset({
    "smartcourse", "smartcourse_events", "platform_fns",
    *(service.value for service in Service if service is not Service.PLATFORM),
    *(f"smartcourse_{service.value}" for service in Service if service is not Service.PLATFORM),
})

H = TypeVar("H", bound=Callable[..., Any])


def service_name() -> str:
    """The function's service as the stack sets it (``POWERTOOLS_SERVICE_NAME``)."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or os.environ.get("SERVICE_NAME") or "smartcourse"


class _Stdout:
    """``sys.stdout`` as it is when a line is written (a test's capture, the local runner's redirection)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class _CorrelationFilter(logging.Filter):
    """Stamps the current correlation id on every record written through the JSON handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = request_context.correlation_id.get()
        return True


class _NotOurs(logging.Filter):
    """On the root logger's own handlers (the Lambda runtime's): our packages' lines are written once, as JSON."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".", 1)[0] not in OWN_PACKAGES


logger = Logger(service=service_name(), stream=_Stdout())  # type: ignore[arg-type]
logger.registered_handler.addFilter(_CorrelationFilter())
logger.append_keys(name="%(name)s")  # which module's logger wrote the line
metrics = Metrics(namespace=METRICS_NAMESPACE, service=service_name())


def _tracing_enabled() -> bool:
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(os.environ.get("LAMBDA_TASK_ROOT")) and not disabled and not os.environ.get("AWS_SAM_LOCAL")


def _make_tracer() -> Any:
    if not _tracing_enabled():
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service=service_name(), auto_patch=False)


tracer = _make_tracer()
# Every entry point imports this module: its SnapStart hooks (prime deferred imports, drop connections, renew
# clients and random state) are registered here, once, where the runtime offers them.
snapstart.register()
_patched: set[str] = set()
_configured = False
_cold_start = True


def _patch_loaded_modules() -> None:
    if tracer is None:
        return
    loaded = [name for name in TRACED_MODULES if name not in _patched and name in sys.modules]
    if loaded:
        tracer.patch(loaded)
        _patched.update(loaded)


# Third-party loggers that print request/response bodies at DEBUG (secrets, tokens, keys among them).
SECRET_BEARING_LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.hooks", "urllib3.connectionpool",
                          "openai._base_client", "httpx2", "httpcore2")


def _route_package_loggers() -> None:
    """Our packages' stdlib loggers write through the JSON handler at the function's level, and only there."""
    global _configured
    if _configured:
        return
    _configured = True
    handler = logger.registered_handler
    for name in sorted(OWN_PACKAGES - {logger.name}):
        package_logger = logging.getLogger(name)
        if handler not in package_logger.handlers:
            package_logger.addHandler(handler)
        if package_logger.level == logging.NOTSET:
            package_logger.setLevel(logger.log_level)
    for name in SECRET_BEARING_LOGGERS:
        # At DEBUG these log whole response bodies, Secrets Manager's secret values included: never below INFO.
        if logging.getLogger(name).getEffectiveLevel() < logging.INFO:
            logging.getLogger(name).setLevel(logging.INFO)
    for root_handler in logging.getLogger().handlers:
        # pytest's capture handler keeps seeing everything (caplog), as Powertools does for its own logger.
        if type(root_handler).__module__ == "_pytest.logging":
            continue
        if not any(isinstance(f, _NotOurs) for f in root_handler.filters):
            root_handler.addFilter(_NotOurs())


# --- the correlation id ------------------------------------------------------------------------------------


def _header(event: Mapping[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    if not isinstance(headers, Mapping):
        return None
    wanted = name.lower()
    return next((str(v) for k, v in headers.items() if str(k).lower() == wanted and v), None)


def sane_correlation_id(value: object) -> str | None:
    """``value`` when it is usable as a correlation id (a short token), else None."""
    if isinstance(value, str) and _SANE_CORRELATION_ID.fullmatch(value):
        return value
    return None


def correlation_id_of(event: Any, lambda_context: Any = None) -> str:
    """The correlation id of one invocation: the request's (HTTP, authorizer), else the Lambda request id."""
    if isinstance(event, Mapping):
        request = event.get("requestContext")
        if isinstance(request, Mapping):
            sent = sane_correlation_id(_header(event, CORRELATION_HEADER))
            if sent:
                return sent
            request_id = request.get("requestId")
            if request_id:
                return str(request_id)
    request_id = getattr(lambda_context, "aws_request_id", None)
    return str(request_id) if request_id else str(uuid.uuid4())


def bind_correlation_id(value: str | None) -> None:
    """Make ``value`` the correlation id of what follows in this invocation (e.g. one record of a batch)."""
    if value:
        request_context.correlation_id.set(value)


@contextmanager
def correlation_scope(value: str | None) -> Iterator[None]:
    """``value`` as the correlation id inside the block (one record of a batch), the previous one after it."""
    token = request_context.correlation_id.set(value or request_context.correlation_id.get())
    try:
        yield
    finally:
        request_context.correlation_id.reset(token)


def envelope_correlation_id(correlation_id: str | None, event_id: object) -> str:
    """An event's correlation id: the one it carries, else its own id."""
    return sane_correlation_id(correlation_id) or str(event_id)


def sqs_correlation_attributes() -> dict[str, Any]:
    """``MessageAttributes`` carrying the current correlation id to an SQS-triggered function (or none)."""
    current = request_context.correlation_id.get()
    if not current:
        return {}
    return {SQS_CORRELATION_ATTRIBUTE: {"DataType": "String", "StringValue": current}}


def sqs_record_correlation_id(record: Mapping[str, Any]) -> str | None:
    """The correlation id an SQS record carries (:func:`sqs_correlation_attributes`), else its message id."""
    attributes = record.get("messageAttributes") or {}
    carried = (attributes.get(SQS_CORRELATION_ATTRIBUTE) or {}).get("stringValue")
    return sane_correlation_id(carried) or record.get("messageId")


# --- the wrapper ---------------------------------------------------------------------------------------------


def _flush_metrics() -> None:
    if metrics.metric_set:
        metrics.flush_metrics()


def observed(handler: H) -> H:
    """``handler`` with JSON logs, the correlation id, X-Ray tracing and per-invocation metrics.

    Logs nothing of the event or the response: one DEBUG line per invocation (outcome, duration); an exception
    by its type only (its message may quote data), re-raised for the Lambda runtime to report as always.
    """
    if getattr(handler, _MARKER, False):
        return handler
    traced: Callable[..., Any] = handler
    if tracer is not None:
        traced = tracer.capture_lambda_handler(handler, capture_response=False, capture_error=False)
    _patch_loaded_modules()

    @functools.wraps(handler)
    def entry_point(event: Any, lambda_context: Any) -> Any:
        global _cold_start
        _route_package_loggers()
        cold_start, _cold_start = _cold_start, False
        service = service_name()
        metrics.provider.service = service
        logger.append_keys(service=service, cold_start=cold_start,
                           function_name=getattr(lambda_context, "function_name", None),
                           function_request_id=getattr(lambda_context, "aws_request_id", None))
        token = request_context.correlation_id.set(correlation_id_of(event, lambda_context))
        started = time.perf_counter()
        outcome = "error"
        try:
            result = traced(event, lambda_context)
            outcome = "ok"
            return result
        except Exception as exc:
            logger.warning("invocation raised", extra={"error_type": type(exc).__name__})
            raise
        finally:
            logger.debug("invocation done", extra={
                "outcome": outcome, "duration_ms": round((time.perf_counter() - started) * 1000, 3)})
            _flush_metrics()
            request_context.correlation_id.reset(token)
            _patch_loaded_modules()

    setattr(entry_point, _MARKER, True)
    return entry_point  # type: ignore[return-value]


def is_observed(handler: object) -> bool:
    """Whether ``handler`` is an :func:`observed` entry point."""
    return bool(getattr(handler, _MARKER, False))
