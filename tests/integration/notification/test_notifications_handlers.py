"""The Notifications API handlers with API Gateway events against a real notification database."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from smartcourse.db.engine import normalise_url
from sqlalchemy import Engine, create_engine, update

from stacks.services import function
from tests.support.apigw import body_of, rest_event

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def notification_url(postgres: Any) -> str:
    from smartcourse.db.migrate import upgrade

    url = postgres.database_url(f"notifapi_{uuid.uuid4().hex[:10]}")
    upgrade(url, service="notification")
    return url


@pytest.fixture(scope="module")
def db(notification_url: str) -> Iterator[Engine]:
    eng = create_engine(normalise_url(notification_url))
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def env(notification_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from smartcourse.db import engine as engine_module
    from smartcourse.settings import get_settings
    from smartcourse_notification import service as service_module

    monkeypatch.setenv("DATABASE_URL", notification_url)
    monkeypatch.setenv("DB_NAME", "smartcourse_notification")

    def reset() -> None:
        get_settings.cache_clear()
        engine_module.reset_engine()
        service_module._service = None

    reset()
    yield
    reset()


def call(name: str, who: tuple[uuid.UUID, str] | None, **kwargs: Any) -> dict[str, Any]:
    fn = function(f"notification-{name}")
    module = importlib.import_module(fn.module)
    principal = (str(who[0]), who[1]) if who else None
    return dict(module.handler(rest_event(fn, principal=principal, **kwargs), None))


def student() -> tuple[uuid.UUID, str]:
    return uuid.uuid4(), "student"


ADMIN = (uuid.uuid4(), "admin")


def seed(db: Engine, user_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """``count`` in-app notifications, a minute apart, oldest first."""
    from smartcourse_notification import repository as repo
    from smartcourse_notification.tables import notifications

    ids = []
    start = datetime.now(UTC) - timedelta(hours=1)
    with db.begin() as conn:
        for i in range(count):
            nid = uuid.uuid4()
            repo.insert_notification(conn, id=nid, user_id=user_id, event_id=uuid.uuid4(),
                                     template="enrollment_confirmation", title=f"n{i}", body=f"body {i}",
                                     link=None, category="course_updates")
            conn.execute(update(notifications).where(notifications.c.id == nid)
                         .values(created_at=start + timedelta(minutes=i)))
            ids.append(nid)
    return ids


# --- feed -------------------------------------------------------------------------------------------------------


def test_feed_is_the_callers_own_newest_first_paginated(db: Engine) -> None:
    me, other = student(), student()
    seed(db, me[0], 3)
    seed(db, other[0], 2)
    response = call("list-mine", me)
    assert response["statusCode"] == 200
    page = body_of(response)
    assert [n["title"] for n in page["items"]] == ["n2", "n1", "n0"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 20, 0)
    assert page["items"][0]["read"] is False and page["items"][0]["read_at"] is None
    second = body_of(call("list-mine", me, query={"limit": "1", "offset": "1"}))
    assert [n["title"] for n in second["items"]] == ["n1"] and second["total"] == 3


def test_mark_read_and_the_unread_filter(db: Engine) -> None:
    me = student()
    ids = seed(db, me[0], 2)
    response = call("mark-read", me, path_params={"notification_id": str(ids[0])})
    assert response["statusCode"] == 204 and not response.get("body")
    assert call("mark-read", me, path_params={"notification_id": str(ids[0])})["statusCode"] == 204  # idempotent
    unread = body_of(call("list-mine", me, query={"unread": "true"}))
    assert [n["id"] for n in unread["items"]] == [str(ids[1])] and unread["total"] == 1
    everything = body_of(call("list-mine", me))
    assert {n["id"]: n["read"] for n in everything["items"]} == {str(ids[0]): True, str(ids[1]): False}


def test_someone_elses_or_an_unknown_notification_is_not_found(db: Engine) -> None:
    owner = student()
    [nid] = seed(db, owner[0], 1)
    for who in (student(), ADMIN):
        response = call("mark-read", who, path_params={"notification_id": str(nid)})
        assert response["statusCode"] == 404 and body_of(response) == {"detail": "Notification not found"}
    assert body_of(call("list-mine", owner))["items"][0]["read"] is False
    assert call("mark-read", owner, path_params={"notification_id": str(uuid.uuid4())})["statusCode"] == 404
    assert call("mark-read", owner, path_params={"notification_id": "not-a-uuid"})["statusCode"] == 422


@pytest.mark.parametrize("name", ["list-mine", "get-preferences"])
def test_no_caller_is_401(name: str) -> None:
    response = call(name, None)
    assert response["statusCode"] == 401 and body_of(response) == {"detail": "Not authenticated"}


def test_bad_paging_is_422() -> None:
    assert call("list-mine", student(), query={"limit": "0"})["statusCode"] == 422
    assert call("list-mine", student(), query={"unread": "maybe"})["statusCode"] == 422


# --- preferences ------------------------------------------------------------------------------------------------


def test_preferences_default_until_changed_then_merge_partial_updates() -> None:
    me = student()
    defaults = body_of(call("get-preferences", me))
    assert defaults == {"email": True, "sms": False, "in_app": True, "phone_number": None,
                        "categories": {"course_updates": True, "progress": True, "marketing": False,
                                       "nudges": True, "reports": True}}
    changed = call("update-preferences", me, body={"sms": True, "phone_number": "+4915112345678",
                                                   "categories": {"marketing": True, "nudges": False}})
    assert changed["statusCode"] == 200, changed
    assert body_of(changed) == {"email": True, "sms": True, "in_app": True, "phone_number": "+4915112345678",
                                "categories": {"course_updates": True, "progress": True, "marketing": True,
                                               "nudges": False, "reports": True}}
    partial = body_of(call("update-preferences", me, body={"email": False}))
    assert partial["email"] is False and partial["sms"] is True and partial["categories"]["marketing"] is True
    assert body_of(call("get-preferences", me)) == partial
    assert body_of(call("get-preferences", student())) == defaults  # per user


@pytest.mark.parametrize("body", [
    {"phone_number": "015112345678"},
    {"categories": {"spam": True}},
    {"categories": {"transactional": False}},  # transactional mail cannot be switched off
    {"email": "yes please"},
    {"unknown": 1},
    {"sms": True},  # no phone number on file
])
def test_invalid_preferences_are_422_and_change_nothing(body: dict[str, Any]) -> None:
    me = student()
    response = call("update-preferences", me, body=body)
    assert response["statusCode"] == 422, response
    assert isinstance(body_of(response)["detail"], list)
    assert body_of(call("get-preferences", me))["email"] is True


def test_malformed_json_is_400() -> None:
    response = call("update-preferences", student(), raw_body="{not json")
    assert response["statusCode"] == 400 and body_of(response) == {"detail": "Malformed JSON body"}


def test_removing_the_phone_number_turns_sms_impossible() -> None:
    me = student()
    call("update-preferences", me, body={"sms": True, "phone_number": "+4915112345678"})
    assert call("update-preferences", me, body={"phone_number": None})["statusCode"] == 422
    assert body_of(call("update-preferences", me, body={"sms": False, "phone_number": None}))["phone_number"] is None


# --- templates (admin) ------------------------------------------------------------------------------------------


def test_templates_are_admin_only_and_list_channels_and_variables() -> None:
    assert call("list-templates", student())["statusCode"] == 403
    response = call("list-templates", ADMIN)
    assert response["statusCode"] == 200
    page = body_of(response)
    by_name = {t["name"]: t for t in page["items"]}
    assert page["total"] == len(by_name) == 9
    assert set(by_name) == {"welcome_verify_email", "password_reset", "enrollment_confirmation", "course_completed",
                            "course_processing_completed", "course_processing_failed", "instructor_nudge",
                            "report_ready", "scheduled_report_ready"}
    assert by_name["course_completed"]["channels"] == ["email", "in_app", "sms"]
    assert by_name["welcome_verify_email"]["required_variables"] == ["recipient_name", "verify_url"]
    assert by_name["password_reset"]["category"] == "transactional"
    assert by_name["instructor_nudge"] == {
        "name": "instructor_nudge", "category": "nudges", "channels": ["email", "in_app", "sms"],
        "required_variables": ["recipient_name", "course_title", "message", "course_url"],
        "description": by_name["instructor_nudge"]["description"]}
    assert (by_name["report_ready"]["category"], by_name["scheduled_report_ready"]["category"]) == (
        "transactional", "reports")
    assert by_name["report_ready"]["channels"] == by_name["scheduled_report_ready"]["channels"] == ["email", "in_app"]


def test_preview_with_the_sample_or_a_given_context() -> None:
    sample = call("preview-template", ADMIN, path_params={"name": "course_completed"})
    assert sample["statusCode"] == 200, sample
    out = body_of(sample)
    assert out["subject"] == "Congratulations, you completed Python for Beginners"
    assert "SC-ABCDEFGHJKMN" in out["text"] and out["html"].startswith("<!doctype html>") and out["sms"]
    context = {"recipient_name": "Bob", "course_title": "<b>Rust</b>", "course_url": "https://x.test/c"}
    given = body_of(call("preview-template", ADMIN, path_params={"name": "enrollment_confirmation"},
                         body={"context": context}))
    assert given["subject"] == "You are enrolled in <b>Rust</b>"
    assert "&lt;b&gt;Rust&lt;/b&gt;" in given["html"] and "<b>Rust</b>" not in given["html"]


def test_preview_of_the_analytics_templates() -> None:
    sample = body_of(call("preview-template", ADMIN, path_params={"name": "instructor_nudge"}))
    assert sample["subject"] == "Your instructor sent you a nudge about Python for Beginners"
    assert sample["sms"] and sample["in_app"] and sample["html"].startswith("<!doctype html>")
    context = {"recipient_name": "Bob", "course_title": "Rust", "course_url": "https://x.test/c",
               "message": "<img src=x onerror=alert(1)> come back"}
    given = body_of(call("preview-template", ADMIN, path_params={"name": "instructor_nudge"},
                         body={"context": context}))
    assert "&lt;img src=x onerror=alert(1)&gt; come back" in given["html"] and "<img" not in given["html"]
    assert "<img src=x onerror=alert(1)> come back" in given["sms"]
    report = body_of(call("preview-template", ADMIN, path_params={"name": "scheduled_report_ready"}))
    assert report["subject"] == "Your instructor report for 2026-11-17 to 2026-11-23 is ready"
    assert "http://127.0.0.1:8002/api/v1/analytics/reports/" in report["text"] and report["sms"] is None
    missing = call("preview-template", ADMIN, path_params={"name": "report_ready"},
                   body={"context": {"recipient_name": "Bob", "report_type": "course"}})
    assert missing["statusCode"] == 422
    assert {tuple(e["loc"]) for e in body_of(missing)["detail"]} == {
        ("body", "context", "period"), ("body", "context", "report_format"), ("body", "context", "report_url")}


def test_preview_errors() -> None:
    missing = call("preview-template", ADMIN, path_params={"name": "enrollment_confirmation"},
                   body={"context": {"recipient_name": "Bob"}})
    assert missing["statusCode"] == 422
    assert {tuple(e["loc"]) for e in body_of(missing)["detail"]} == {("body", "context", "course_title"),
                                                                   ("body", "context", "course_url")}
    assert call("preview-template", ADMIN, path_params={"name": "nope"})["statusCode"] == 404
    assert call("preview-template", student(), path_params={"name": "password_reset"})["statusCode"] == 403
    assert call("preview-template", ADMIN, path_params={"name": "password_reset"},
                body={"context": "x"})["statusCode"] == 422


@pytest.mark.parametrize("raw", ["[null, null]", "[{}]", "[]", '"text"', "3"])
def test_a_preview_body_that_is_not_an_object_is_422(raw: str) -> None:
    # Found by the API fuzzer: ``[null, null]`` was rendered with the sample context.
    response = call("preview-template", ADMIN, path_params={"name": "password_reset"}, raw_body=raw)
    assert response["statusCode"] == 422, response["body"]


@pytest.mark.parametrize("body", [{"email": 0}, {"in_app": 1}, {"categories": {"marketing": 0}},
                                  {"phone_number": "+4915112345678\x00"}])
def test_numbers_are_not_booleans_and_nul_is_refused_in_preferences(body: dict[str, Any]) -> None:
    me = student()
    response = call("update-preferences", me, body=body)
    assert response["statusCode"] == 422, response["body"]
    assert body_of(call("get-preferences", me))["email"] is True
