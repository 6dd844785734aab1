"""Valid events of every registered type, and the Lambda event an MSK event source mapping delivers them in."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.registry import build_event, topic_for


@dataclass(frozen=True)
class Ids:
    """The entities one set of sample events is about (all events of a set agree on them)."""

    user: uuid.UUID = field(default_factory=uuid.uuid4)
    course: uuid.UUID = field(default_factory=uuid.uuid4)
    instructor: uuid.UUID = field(default_factory=uuid.uuid4)
    enrollment: uuid.UUID = field(default_factory=uuid.uuid4)
    module: uuid.UUID = field(default_factory=uuid.uuid4)
    asset: uuid.UUID = field(default_factory=uuid.uuid4)
    certificate: uuid.UUID = field(default_factory=uuid.uuid4)
    ref: uuid.UUID = field(default_factory=uuid.uuid4)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def asset_payload(ids: Ids, **extra: Any) -> dict[str, Any]:
    return {"asset_id": str(ids.asset), "title": "Intro", "asset_type": "article", "source_url": None,
            "content_key": f"courses/{ids.course}/modules/{ids.module}/assets/{ids.asset}/content.json", **extra}


def published_payload(ids: Ids, **extra: Any) -> dict[str, Any]:
    return {"course_id": str(ids.course), "instructor_id": str(ids.instructor), "title": "Python",
            "description": "From zero", "published_at": ids.now.isoformat(),
            "modules": [{"module_id": str(ids.module), "title": "Basics", "assets": [asset_payload(ids)]}], **extra}


def sample_payloads(ids: Ids | None = None) -> dict[str, dict[str, Any]]:
    """One valid producer payload per event type (JSON-ish, as a service would build it), in lifecycle order.

    The order is the one the events of one story happen in (a user registers, a course is published and
    indexed, the user enrolls, completes and is certified), so a consumer fed them in this order finds what
    an event needs from an earlier one.
    """
    ids = ids or Ids()
    user, course, enrollment = str(ids.user), str(ids.course), str(ids.enrollment)
    return {
        "user.registered": {"user_id": user, "email": "a@b.co", "full_name": "Ada", "roles": ["student"],
                            "verification_token_ref": str(ids.ref)},
        "user.password_reset_requested": {"user_id": user, "email": "a@b.co", "reset_token_ref": str(ids.ref)},
        "user.email_verified": {"user_id": user},
        "user.role_changed": {"user_id": user, "role": "instructor", "granted": True},
        "course.created": {"course_id": course, "instructor_id": str(ids.instructor), "title": "Python"},
        "course.published": published_payload(ids),
        "course.processing_completed": {"course_id": course, "chunks": 42, "embeddings": 42, "summary_ready": True},
        "course.processing_failed": {"course_id": course, "error": "embedding model unavailable"},
        "enrollment.created": {"enrollment_id": enrollment, "user_id": user, "course_id": course,
                               "source": "self", "enrolled_at": ids.now.isoformat()},
        "progress.updated": {"enrollment_id": enrollment, "user_id": user, "course_id": course,
                             "asset_id": str(ids.asset), "module_id": str(ids.module), "progress_percent": 50,
                             "time_spent_delta": 120, "course_percent": 33.33},
        "enrollment.completed": {"enrollment_id": enrollment, "user_id": user, "course_id": course,
                                 "completed_at": ids.now.isoformat()},
        "certificate.issued": {"certificate_id": str(ids.certificate), "serial_no": "SC-ABCDEFGH2345",
                               "enrollment_id": enrollment, "user_id": user, "course_id": course},
        "enrollment.dropped": {"enrollment_id": enrollment, "user_id": user, "course_id": course},
        "learner.nudge_requested": {"nudge_id": str(ids.ref), "course_id": course, "course_title": "Python",
                                    "user_id": user, "instructor_id": str(ids.instructor),
                                    "message": "The next module is waiting for you"},
        "report.ready": {"report_id": str(ids.ref), "owner_user_id": str(ids.instructor), "report_type": "course",
                         "course_id": course, "period_from": ids.now.date().isoformat(),
                         "period_to": ids.now.date().isoformat(),
                         "download_key": f"reports/{ids.instructor}/{ids.ref}.html", "format": "html",
                         "scheduled": False},
        "course.archived": {"course_id": course},
    }


def sample_events(event_types: list[str] | tuple[str, ...] | set[str], ids: Ids | None = None) -> list[EventEnvelope]:
    """Envelopes of ``event_types`` about one set of ``ids``, in lifecycle order (``sample_payloads``)."""
    payloads = sample_payloads(ids)
    unknown = set(event_types) - set(payloads)
    assert not unknown, f"no sample for {sorted(unknown)}"
    return [build_event(payload, event_type=event_type) for event_type, payload in payloads.items()
            if event_type in event_types]


def msk_event(*envelopes: EventEnvelope, offset: int = 0) -> dict[str, Any]:
    """The MSK Lambda event for ``envelopes`` (one partition per topic, in the given order)."""
    records: dict[str, list[dict[str, Any]]] = {}
    for env in envelopes:
        topic = topic_for(env.event_type, env.event_version)
        chunk = records.setdefault(f"{topic}-0", [])
        chunk.append({
            "topic": topic, "partition": 0, "offset": offset + len(chunk), "timestamp": 1_700_000_000_000,
            "timestampType": "CREATE_TIME", "key": base64.b64encode(env.key.encode()).decode(),
            "value": base64.b64encode(json.dumps(env.to_json_dict()).encode()).decode(), "headers": [],
        })
    return {"eventSource": "aws:kafka",
            "eventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/it/00000000-0000-0000-0000-000000000000-1",
            "bootstrapServers": "127.0.0.1:9092", "records": records}
