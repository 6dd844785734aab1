"""Event envelope, payload models and the registry."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError
from smartcourse_events import build_event, json_schemas, parse_event, payload_model, topic_for
from smartcourse_events.registry import REGISTRY, UnknownEventType
from smartcourse_events.topics import ALL_TOPICS, USER_EVENTS
from smartcourse_events.user import UserRegisteredV1, UserRoleChangedV1

USER = uuid.uuid4()
REF = uuid.uuid4()


def _registered() -> dict[str, object]:
    return {"user_id": str(USER), "email": "a@b.co", "full_name": None, "roles": ["student"],
            "verification_token_ref": str(REF)}


def test_topics() -> None:
    assert ALL_TOPICS == ("smartcourse.user-events", "smartcourse.course-events", "smartcourse.enrollment-events",
                          "smartcourse.progress-events", "smartcourse.analytics-events")


def test_user_events_are_registered_on_the_user_topic() -> None:
    for event_type in ("user.registered", "user.password_reset_requested", "user.email_verified",
                       "user.role_changed"):
        assert topic_for(event_type, 1) == USER_EVENTS
        assert (event_type, 1) in REGISTRY


def test_build_event_fills_the_envelope() -> None:
    envelope = build_event(_registered(), event_type="user.registered", correlation_id="req-1")
    assert envelope.event_type == "user.registered" and envelope.event_version == 1
    assert envelope.aggregate_type == "user" and envelope.aggregate_id == USER and envelope.key == str(USER)
    assert envelope.producer == "lms" and envelope.correlation_id == "req-1"
    assert envelope.occurred_at.tzinfo is not None
    data = envelope.to_json_dict()
    assert set(data) == {"event_id", "event_type", "event_version", "occurred_at", "producer", "aggregate_type",
                         "aggregate_id", "correlation_id", "payload"}
    assert json.loads(json.dumps(data))["payload"]["verification_token_ref"] == str(REF)


def test_producers_are_strict() -> None:
    with pytest.raises(ValueError, match="unknown payload fields"):
        build_event({**_registered(), "password": "x"}, event_type="user.registered")
    with pytest.raises(ValidationError):
        build_event({"user_id": str(USER)}, event_type="user.registered")
    with pytest.raises(ValidationError):
        build_event({"user_id": str(USER), "role": "root", "granted": True}, event_type="user.role_changed")
    with pytest.raises(UnknownEventType):
        build_event({}, event_type="user.exploded")


def test_build_event_from_a_model() -> None:
    envelope = build_event(UserRoleChangedV1(user_id=USER, role="instructor", granted=True))
    assert envelope.event_type == "user.role_changed" and envelope.payload["granted"] is True


def test_consumers_tolerate_added_fields_and_skip_unknown_types() -> None:
    raw = build_event(_registered(), event_type="user.registered").to_json_dict()
    raw["payload"]["added_later"] = 1
    raw["new_envelope_field"] = "x"
    envelope, payload = parse_event(json.dumps(raw))
    assert envelope.event_type == "user.registered"
    assert isinstance(payload, UserRegisteredV1) and payload.user_id == USER
    with pytest.raises(UnknownEventType):
        parse_event({**raw, "event_type": "user.teleported"})
    with pytest.raises(UnknownEventType):
        payload_model("user.registered", 99)


def test_no_secret_fields_in_user_payloads() -> None:
    for model in REGISTRY.values():
        assert not {"password", "password_hash", "token", "verification_token", "reset_token"} & set(
            model.model_fields)


def test_json_schemas_export() -> None:
    schemas = json_schemas()
    assert "envelope" in schemas and schemas["user.registered.v1"]["x-topic"] == USER_EVENTS
