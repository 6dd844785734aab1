"""Pure parts of the courses slice: request models, the article content key and course.published's fields."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError
from smartcourse_events import build_event
from smartcourse_events.course import ASSET_DESCRIPTION_MAX_LENGTH, CoursePublishedV1, PublishedAsset
from smartcourse_lms.courses.schemas import (
    DESCRIPTION_MAX_LENGTH,
    CourseCreateRequest,
    CourseUpdateRequest,
    ModuleUpdateRequest,
)
from smartcourse_lms.courses.service import content_key

from tests.support.events import Ids, asset_payload, published_payload


def test_content_key_follows_the_documented_layout() -> None:
    c, m, a = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert content_key(c, m, a) == f"courses/{c}/modules/{m}/assets/{a}/content.json"


@pytest.mark.parametrize("body", [{"title": ""}, {"title": "  "}, {"title": "x" * 256},
                                  {"title": "x", "max_students": 0}, {"title": "x", "level": "expert"}, {}])
def test_bad_create_bodies(body: dict) -> None:
    with pytest.raises(ValidationError):
        CourseCreateRequest.model_validate(body)


def test_update_is_partial_and_status_is_not_writable() -> None:
    assert CourseUpdateRequest.model_validate({"category": None}).changes() == {"category": None}
    assert CourseUpdateRequest.model_validate({}).changes() == {}
    with pytest.raises(ValidationError):
        CourseUpdateRequest.model_validate({"status": "published"})
    with pytest.raises(ValidationError):
        ModuleUpdateRequest.model_validate({"course_id": str(uuid.uuid4())})
    assert ModuleUpdateRequest.model_validate({"order_index": 3}).changes() == {"order_index": 3}


# --- course.published: the added fields (prerequisite_ids, each asset's description) -------------------------


def test_course_published_added_fields_are_optional_for_old_events() -> None:
    ids = Ids()
    old = CoursePublishedV1.model_validate(published_payload(ids))  # as published before the fields existed
    assert old.prerequisite_ids == [] and old.modules[0].assets[0].description is None
    prerequisite = uuid.uuid4()
    module = {"module_id": str(ids.module), "title": "Basics",
              "assets": [asset_payload(ids, description="Read this first")]}
    envelope = build_event(published_payload(ids, modules=[module], prerequisite_ids=[str(prerequisite)]),
                           event_type="course.published")
    new = CoursePublishedV1.model_validate(envelope.payload)
    assert new.prerequisite_ids == [prerequisite] and new.modules[0].assets[0].description == "Read this first"


def test_asset_description_limit_is_the_lms_limit() -> None:
    assert ASSET_DESCRIPTION_MAX_LENGTH == DESCRIPTION_MAX_LENGTH
    ids = Ids()
    PublishedAsset.model_validate(asset_payload(ids, description="x" * DESCRIPTION_MAX_LENGTH))
    with pytest.raises(ValidationError):
        PublishedAsset.model_validate(asset_payload(ids, description="x" * (DESCRIPTION_MAX_LENGTH + 1)))


def test_the_progress_contract_bounds_time_as_the_lms_does() -> None:
    from smartcourse_events.progress import TIME_SPENT_DELTA_MAX
    from smartcourse_lms.enrollments.schemas import MAX_TIME_SPENT_SECONDS

    assert TIME_SPENT_DELTA_MAX == MAX_TIME_SPENT_SECONDS
