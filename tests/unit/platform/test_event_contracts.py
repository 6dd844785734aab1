"""The event contracts of events.md: every event registered on its topic, strict producers, tolerant consumers,
and a JSON Schema export in docs/events/ that is never stale.

Who consumes what is not part of the contract code: it is each consumer function's declaration (its
``KafkaTrigger.event_types``). Here it is held to the spec's table (nothing is consumed that the spec does not
route to that service); tests/integration/test_consumers_declared.py holds it to what the handlers do.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from smartcourse_events import build_event, json_schemas, parse_event, payload_model, route_for, topic_for
from smartcourse_events.base import EventPayload
from smartcourse_events.course import CoursePublishedV1, PublishedAsset, PublishedModule
from smartcourse_events.enrollment import CertificateIssuedV1, EnrollmentCompletedV1
from smartcourse_events.export import main as export_main
from smartcourse_events.export import render, stale_files, write
from smartcourse_events.progress import ProgressUpdatedV1
from smartcourse_events.registry import REGISTRY, ROUTES, UnknownEventType
from smartcourse_events.topics import (
    ALL_TOPICS,
    ANALYTICS_EVENTS,
    COURSE_EVENTS,
    ENROLLMENT_EVENTS,
    PROGRESS_EVENTS,
    USER_EVENTS,
)

from stacks.events_export import declared_consumers
from stacks.events_export import main as events_export_main
from stacks.services import ALL_FUNCTIONS, consumers_of
from tests.support.events import Ids, asset_payload, published_payload, sample_payloads

REPO = Path(__file__).resolve().parents[3]
DOCS = REPO / "docs" / "events"
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
USER, COURSE, INSTRUCTOR, ENROLLMENT = (uuid.uuid4() for _ in range(4))
MODULE, ASSET, CERTIFICATE, REF = (uuid.uuid4() for _ in range(4))
REPORT, NUDGE = uuid.uuid4(), uuid.uuid4()

# events.md, "Topics and events": event → (topic, producer, consumers, payload fields at least). The consumers
# column is the spec's plan: the services that may consume the type (see test_declared_consumers_are_in_the_spec).
TABLE: dict[str, tuple[str, str, set[str], set[str]]] = {
    "user.registered": (USER_EVENTS, "lms", {"notification", "analytics"},
                        {"user_id", "email", "full_name", "roles", "verification_token_ref"}),
    "user.password_reset_requested": (USER_EVENTS, "lms", {"notification"}, {"user_id", "email", "reset_token_ref"}),
    "user.email_verified": (USER_EVENTS, "lms", {"analytics"}, {"user_id"}),
    "user.role_changed": (USER_EVENTS, "lms", {"analytics"}, {"user_id", "role", "granted"}),
    "course.created": (COURSE_EVENTS, "lms", {"analytics"}, {"course_id", "instructor_id", "title"}),
    "course.published": (COURSE_EVENTS, "lms", {"ai", "analytics", "notification"},
                         {"course_id", "instructor_id", "title", "description", "published_at", "modules"}),
    "course.archived": (COURSE_EVENTS, "lms", {"ai", "analytics"}, {"course_id"}),
    "course.processing_completed": (COURSE_EVENTS, "ai", {"lms", "notification"},
                                    {"course_id", "chunks", "embeddings", "summary_ready"}),
    "course.processing_failed": (COURSE_EVENTS, "ai", {"lms", "notification"}, {"course_id", "error"}),
    "enrollment.created": (ENROLLMENT_EVENTS, "lms", {"notification", "analytics", "ai"},
                           {"enrollment_id", "user_id", "course_id", "source", "enrolled_at"}),
    "enrollment.dropped": (ENROLLMENT_EVENTS, "lms", {"analytics"}, {"enrollment_id", "user_id", "course_id"}),
    "enrollment.completed": (ENROLLMENT_EVENTS, "lms", {"notification", "analytics"},
                             {"enrollment_id", "user_id", "course_id", "completed_at"}),
    "certificate.issued": (ENROLLMENT_EVENTS, "lms", {"notification", "analytics"},
                           {"certificate_id", "serial_no", "enrollment_id", "user_id", "course_id"}),
    "progress.updated": (PROGRESS_EVENTS, "lms", {"analytics"},
                         {"enrollment_id", "user_id", "course_id", "asset_id", "module_id", "progress_percent",
                          "time_spent_delta", "course_percent"}),
    "report.ready": (ANALYTICS_EVENTS, "analytics", {"notification"},
                     {"report_id", "owner_user_id", "report_type", "course_id", "period_from", "period_to",
                      "download_key", "format", "scheduled"}),
    # The spec routes nudges to notification; analytics also reads its own back, so that a rebuild from the
    # event archive restores the nudges it recorded (smartcourse_analytics.catalogue).
    "learner.nudge_requested": (ANALYTICS_EVENTS, "analytics", {"notification", "analytics"},
                                {"nudge_id", "course_id", "course_title", "user_id", "instructor_id", "message"}),
}


IDS = Ids(user=USER, course=COURSE, instructor=INSTRUCTOR, enrollment=ENROLLMENT, module=MODULE, asset=ASSET,
          certificate=CERTIFICATE, ref=REF, now=NOW)
# One valid producer payload per event type (JSON-ish, as a service would build it).
SAMPLES: dict[str, dict[str, Any]] = {
    **sample_payloads(IDS),
    # The analytics service's events, keyed by ids of their own (AGGREGATE_ID).
    "report.ready": {"report_id": str(REPORT), "owner_user_id": str(INSTRUCTOR), "report_type": "course",
                     "course_id": str(COURSE), "period_from": "2026-11-17", "period_to": "2026-11-23",
                     "download_key": f"reports/{REPORT}.html", "format": "html", "scheduled": False},
    "learner.nudge_requested": {"nudge_id": str(NUDGE), "course_id": str(COURSE), "course_title": "Python",
                                "user_id": str(USER), "instructor_id": str(INSTRUCTOR),
                                "message": "Module 2 is waiting for you"},
}


def _asset(**extra: Any) -> dict[str, Any]:
    return asset_payload(IDS, **extra)


def _published(**extra: Any) -> dict[str, Any]:
    return published_payload(IDS, **extra)


# The aggregate each event is keyed by (so one aggregate's events stay in one partition, in order).
AGGREGATE_ID = {"user": USER, "course": COURSE, "enrollment": ENROLLMENT, "report": REPORT, "nudge": NUDGE}


def test_the_table_and_the_samples_agree() -> None:
    assert set(SAMPLES) == set(TABLE)
    for event_type, (_, _, _, fields) in TABLE.items():
        assert fields <= set(SAMPLES[event_type]), event_type


@pytest.mark.parametrize("event_type", sorted(TABLE))
def test_every_event_of_the_table_is_registered_on_its_topic(event_type: str) -> None:
    topic, producer, _, fields = TABLE[event_type]
    model = payload_model(event_type, 1)
    assert (event_type, 1) in REGISTRY
    assert topic_for(event_type) == topic_for(event_type, 1) == model.topic == topic
    assert topic in ALL_TOPICS
    assert route_for(event_type).producer == producer
    assert fields <= set(model.model_fields), f"{event_type} misses {fields - set(model.model_fields)}"


def test_nothing_is_registered_beyond_the_table() -> None:
    assert {event_type for event_type, _ in REGISTRY} == set(TABLE) == set(ROUTES)
    assert {topic for topic, *_ in TABLE.values()} == set(ALL_TOPICS)


@pytest.mark.parametrize("event_type", sorted(TABLE))
def test_declared_consumers_are_in_the_spec(event_type: str) -> None:
    """A service consumes only what the spec routes to it (it may consume less: a planned consumer, or
    notification's ``enrollment.completed``, which it does not need: it mails on ``certificate.issued``)."""
    spec_consumers = TABLE[event_type][2]
    assert {str(service) for service in consumers_of(event_type)} <= spec_consumers


def test_every_consumer_declares_only_registered_types_and_derives_its_topics() -> None:
    consumers = [f for f in ALL_FUNCTIONS if f.kafka and not f.kafka.every_topic]
    assert consumers
    for fn in consumers:
        assert fn.kafka is not None and fn.kafka.event_types, fn.name
        assert set(fn.kafka.event_types) <= set(TABLE), fn.name
        assert set(fn.kafka.topics) == {TABLE[event_type][0] for event_type in fn.kafka.event_types}, fn.name


def test_a_consumer_of_every_topic_reads_every_topic_and_is_no_consumer_of_an_event_type() -> None:
    """The event archive consumes topics, not types: it is in no row of the consumers column."""
    archivers = [f for f in ALL_FUNCTIONS if f.kafka and f.kafka.every_topic]
    assert [f.name for f in archivers] == ["analytics-archive-events"]
    for fn in archivers:
        assert fn.kafka is not None and fn.kafka.event_types == ()
        assert set(fn.kafka.topics) == set(ALL_TOPICS)


def test_types_uuids_and_aware_timestamps() -> None:
    for event_type, sample in SAMPLES.items():
        payload = payload_model(event_type, 1).model_validate(sample)
        for name, value in payload:
            if name.endswith("_id") or name.endswith("_ref"):
                assert isinstance(value, uuid.UUID), (event_type, name)
            if name.endswith("_at"):
                assert isinstance(value, datetime) and value.tzinfo is not None, (event_type, name)
    published = CoursePublishedV1.model_validate(SAMPLES["course.published"])
    assert isinstance(published.modules[0], PublishedModule)
    asset = published.modules[0].assets[0]
    assert isinstance(asset, PublishedAsset) and asset.asset_id == ASSET and asset.asset_type == "article"
    naive = {**SAMPLES["enrollment.completed"], "completed_at": "2026-11-24T10:00:00"}
    with pytest.raises(ValidationError):
        EnrollmentCompletedV1.model_validate(naive)


@pytest.mark.parametrize("event_type", sorted(TABLE))
def test_round_trip_build_json_parse(event_type: str) -> None:
    envelope = build_event(SAMPLES[event_type], event_type=event_type, correlation_id="req-7")
    model = payload_model(event_type, 1)
    assert envelope.event_type == event_type and envelope.event_version == 1
    assert envelope.producer == TABLE[event_type][1]
    assert envelope.aggregate_type == model.aggregate_type
    assert envelope.aggregate_id == AGGREGATE_ID[model.aggregate_type] and envelope.key == str(envelope.aggregate_id)
    wire = json.dumps(envelope.to_json_dict())
    parsed_envelope, payload = parse_event(wire.encode())
    assert parsed_envelope == envelope
    assert type(payload) is model and payload == model.model_validate(SAMPLES[event_type])
    # The typed model builds the very same payload.
    again = build_event(payload, event_id=envelope.event_id, occurred_at=envelope.occurred_at,
                        correlation_id="req-7")
    assert again == envelope


def test_timestamps_keep_their_instant_across_timezones() -> None:
    local = datetime(2026, 11, 24, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    sample = {**SAMPLES["enrollment.completed"], "completed_at": local.isoformat()}
    _, payload = parse_event(build_event(sample, event_type="enrollment.completed").to_json_dict())
    assert isinstance(payload, EnrollmentCompletedV1) and payload.completed_at == NOW


def test_course_events_are_keyed_by_course_and_the_certificate_by_its_enrollment() -> None:
    assert build_event(SAMPLES["course.processing_failed"], event_type="course.processing_failed",
                       producer="ai").key == str(COURSE)
    certificate = build_event(CertificateIssuedV1.model_validate(SAMPLES["certificate.issued"]))
    assert certificate.key == str(ENROLLMENT) and certificate.payload["certificate_id"] == str(CERTIFICATE)
    progress = build_event(ProgressUpdatedV1.model_validate(SAMPLES["progress.updated"]))
    assert progress.key == str(ENROLLMENT) and progress.payload["course_percent"] == 33.33


@pytest.mark.parametrize("event_type", sorted(TABLE))
def test_producers_reject_unknown_fields(event_type: str) -> None:
    with pytest.raises(ValueError, match="unknown payload fields"):
        build_event({**SAMPLES[event_type], "surprise": 1}, event_type=event_type)


@pytest.mark.parametrize("event_type", sorted(TABLE))
def test_producers_reject_missing_fields(event_type: str) -> None:
    model = payload_model(event_type, 1)
    for name, field in model.model_fields.items():
        if field.is_required():
            incomplete = {k: v for k, v in SAMPLES[event_type].items() if k != name}
            with pytest.raises(ValidationError, match=name):
                build_event(incomplete, event_type=event_type)


def test_producers_reject_unknown_nested_fields() -> None:
    module = {"module_id": str(MODULE), "title": "Basics", "assets": [_asset(presigned_url="https://x")]}
    with pytest.raises(ValueError, match=r"modules\[0\]\.assets\[0\]\.presigned_url"):
        build_event(_published(modules=[module]), event_type="course.published")
    with pytest.raises(ValueError, match=r"modules\[0\]\.order"):
        build_event(_published(modules=[{**_published()["modules"][0], "order": 1}]), event_type="course.published")


@pytest.mark.parametrize(("event_type", "field", "value"), [
    ("course.created", "course_id", "not-a-uuid"),
    ("course.created", "title", ""),
    ("course.published", "published_at", "2026-11-24T10:00:00"),  # naive
    ("course.published", "modules", []),
    ("course.published", "modules", [{"module_id": str(MODULE), "title": "Empty", "assets": []}]),
    ("course.published", "modules", [{"module_id": str(MODULE), "title": "M",
                                      "assets": [_asset(asset_type="hologram")]}]),
    ("course.published", "modules", [{"module_id": str(MODULE), "title": "M", "assets": [{"asset_id": "x"}]}]),
    ("course.processing_completed", "chunks", -1),
    ("course.processing_completed", "embeddings", "many"),
    ("course.processing_completed", "summary_ready", "perhaps"),
    ("course.processing_failed", "error", ""),
    ("enrollment.created", "enrolled_at", "yesterday"),
    ("enrollment.created", "source", ""),
    ("enrollment.dropped", "user_id", 7),
    ("enrollment.completed", "completed_at", None),
    ("certificate.issued", "serial_no", "SC-short"),
    ("certificate.issued", "serial_no", "sc-abcdefgh2345"),
    ("progress.updated", "progress_percent", 101),
    ("progress.updated", "course_percent", -0.01),
    ("progress.updated", "time_spent_delta", -5),
    ("progress.updated", "module_id", None),
    ("report.ready", "report_type", "weekly"),
    ("report.ready", "period_to", "next week"),
    ("report.ready", "download_key", ""),
    ("report.ready", "format", "pdf"),
    ("report.ready", "owner_user_id", None),
    ("learner.nudge_requested", "message", ""),
    ("learner.nudge_requested", "message", "x" * 1001),
    ("learner.nudge_requested", "course_title", ""),
    ("learner.nudge_requested", "instructor_id", "me"),
])
def test_producers_reject_wrong_fields(event_type: str, field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        build_event({**SAMPLES[event_type], field: value}, event_type=event_type)


def test_build_event_rejects_a_mismatched_model_and_an_unknown_type() -> None:
    with pytest.raises(ValueError, match=r"is a enrollment\.completed"):
        build_event(EnrollmentCompletedV1.model_validate(SAMPLES["enrollment.completed"]),
                    event_type="enrollment.dropped")
    with pytest.raises(UnknownEventType):
        build_event({"course_id": str(COURSE)}, event_type="course.exploded")
    with pytest.raises(UnknownEventType):
        build_event(SAMPLES["course.archived"], event_type="course.archived", event_version=2)


@pytest.mark.parametrize("event_type", sorted(TABLE))
def test_consumers_tolerate_added_payload_and_envelope_fields(event_type: str) -> None:
    raw = build_event(SAMPLES[event_type], event_type=event_type).to_json_dict()
    raw["payload"]["added_in_a_later_release"] = {"nested": True}
    raw["added_envelope_field"] = "x"
    envelope, payload = parse_event(json.dumps(raw))
    assert envelope.event_type == event_type
    assert isinstance(payload, payload_model(event_type, 1))
    assert "added_in_a_later_release" not in payload.model_dump()


def test_consumers_tolerate_added_nested_fields() -> None:
    raw = build_event(SAMPLES["course.published"], event_type="course.published").to_json_dict()
    raw["payload"]["modules"][0]["position"] = 1
    raw["payload"]["modules"][0]["assets"][0]["duration_seconds"] = 30
    _, payload = parse_event(raw)
    assert isinstance(payload, CoursePublishedV1) and payload.modules[0].assets[0].asset_id == ASSET


def test_unknown_event_types_are_reported_not_crashed_on() -> None:
    """A consumer loop: unknown types (or versions) are skipped and reported with their envelope."""
    known = build_event(SAMPLES["enrollment.created"], event_type="enrollment.created").to_json_dict()
    records = [
        {**known, "event_id": str(uuid.uuid4()), "event_type": "enrollment.teleported"},
        known,
        {**known, "event_id": str(uuid.uuid4()), "event_version": 2},
    ]
    applied: list[EventPayload] = []
    skipped: list[str] = []
    for record in records:
        try:
            _, payload = parse_event(json.dumps(record))
        except UnknownEventType as exc:
            assert exc.envelope is not None and str(exc.envelope.event_id) == record["event_id"]
            assert isinstance(exc, LookupError) and not isinstance(exc, ValidationError)
            skipped.append(str(exc))
            continue
        applied.append(payload)
    assert skipped == ["enrollment.teleported v1", "enrollment.created v2"]
    assert len(applied) == 1 and applied[0].event_type == "enrollment.created"
    with pytest.raises(UnknownEventType):
        route_for("enrollment.teleported")


def test_a_malformed_known_event_is_a_validation_error_not_an_unknown_type() -> None:
    raw = build_event(SAMPLES["progress.updated"], event_type="progress.updated").to_json_dict()
    del raw["payload"]["course_percent"]
    with pytest.raises(ValidationError):
        parse_event(raw)


def test_json_schemas_describe_every_event() -> None:
    schemas = json_schemas()
    assert set(schemas) == {"envelope"} | {f"{event_type}.v1" for event_type in TABLE}
    for event_type, (topic, producer, _, fields) in TABLE.items():
        schema = schemas[f"{event_type}.v1"]
        assert schema["x-topic"] == topic and schema["x-producer"] == producer
        assert schema["x-event-type"] == event_type and "x-consumers" not in schema  # the export adds them
        assert fields <= set(schema["properties"])
    published = schemas["course.published.v1"]
    asset = published["$defs"]["PublishedAsset"]
    assert {"asset_id", "title", "asset_type", "source_url", "content_key"} <= set(asset["properties"])
    assert schemas["enrollment.created.v1"]["properties"]["enrolled_at"]["format"] == "date-time"


# Whatever the export is told consumes what (the entry point tells it the declarations).
READERS = {"course.created": ["analytics"], "certificate.issued": ["notification", "analytics"]}


def test_export_is_deterministic_and_complete(tmp_path: Path) -> None:
    assert render(READERS) == render(READERS)
    assert export_main(["--out", str(tmp_path)], consumers=READERS) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"envelope.json", "index.json"} | {f"{event_type}.v1.json" for event_type in TABLE}
    for path in tmp_path.iterdir():
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["envelope"] == "envelope.json"
    for event_type, (topic, producer, _, _) in TABLE.items():
        entry = index["events"][event_type]
        assert entry["topic"] == topic and entry["producer"] == producer
        assert entry["consumers"] == sorted(READERS.get(event_type, []))
        assert entry["schema"] == f"{event_type}.v1.json" and (tmp_path / entry["schema"]).is_file()
        schema = json.loads((tmp_path / entry["schema"]).read_text())
        assert schema["x-consumers"] == entry["consumers"]
    assert set(index["topics"]) == set(ALL_TOPICS)
    envelope = json.loads((tmp_path / "envelope.json").read_text())
    assert set(envelope["required"]) >= {"event_id", "event_type", "event_version", "occurred_at", "producer",
                                         "aggregate_type", "aggregate_id", "payload"}


def test_export_refuses_consumers_of_an_unknown_type() -> None:
    with pytest.raises(ValueError, match=r"course\.exploded"):
        render({"course.exploded": ["analytics"]})


def test_export_check_names_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export_main(["--check", "--out", str(tmp_path)], consumers=READERS) == 1  # nothing there yet
    assert write(tmp_path, READERS)
    assert export_main(["--check", "--out", str(tmp_path)], consumers=READERS) == 0
    assert write(tmp_path, READERS) == []
    # Another consumer declared: the files naming that type's consumers are stale.
    assert stale_files(tmp_path, {**READERS, "course.archived": ["ai"]}) == ["course.archived.v1.json", "index.json"]
    (tmp_path / "course.created.v1.json").write_text("{}\n")
    (tmp_path / "course.renamed.v1.json").write_text("{}\n")
    (tmp_path / "index.json").unlink()
    capsys.readouterr()
    assert export_main(["--check", "--out", str(tmp_path)], consumers=READERS) == 1
    err = capsys.readouterr().err
    assert "make events" in err
    assert "course.created.v1.json" in err and "course.renamed.v1.json" in err and "index.json" in err
    assert "course.archived.v1.json" not in err
    assert write(tmp_path, READERS) == ["course.created.v1.json", "course.renamed.v1.json", "index.json"]
    assert not (tmp_path / "course.renamed.v1.json").exists() and stale_files(tmp_path, READERS) == []


def test_the_entry_point_exports_the_declared_consumers(tmp_path: Path) -> None:
    assert events_export_main(["--out", str(tmp_path)]) == 0
    index = json.loads((tmp_path / "index.json").read_text())
    for event_type in TABLE:
        assert index["events"][event_type]["consumers"] == [str(s) for s in consumers_of(event_type)]


def test_committed_export_is_not_stale(tmp_path: Path) -> None:
    write(tmp_path, declared_consumers())
    fresh = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.json")}
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.json")} if DOCS.is_dir() else {}
    stale = sorted(name for name in fresh.keys() | on_disk.keys() if fresh.get(name) != on_disk.get(name))
    assert not stale, f"docs/events/ is stale ({', '.join(stale)}): run `make events` and commit the result"
