"""Pure parts of the courses slice: request models and the article content key."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError
from smartcourse_lms.courses.schemas import CourseCreateRequest, CourseUpdateRequest, ModuleUpdateRequest
from smartcourse_lms.courses.service import content_key


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
