"""Test helpers of the AI service: editor documents, published-course payloads and the evaluation courses."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.paths import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "ai"


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def heading(value: str, level: int = 2) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": level}, "content": [text(value)]}


def paragraph(value: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [text(value)]}


def document(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"schema": "smartcourse.editor.v1", "doc": {"type": "doc", "content": list(blocks)}}


@dataclass
class PublishedCourse:
    """A course as ``course.published`` describes it, plus its articles' documents keyed by content key."""

    course_id: uuid.UUID
    instructor_id: uuid.UUID
    payload: dict[str, Any]
    documents: dict[str, bytes] = field(default_factory=dict)
    titles: dict[uuid.UUID, str] = field(default_factory=dict)  # asset id -> title


def content_key(course_id: uuid.UUID, module_id: uuid.UUID, asset_id: uuid.UUID) -> str:
    return f"courses/{course_id}/modules/{module_id}/assets/{asset_id}/content.json"


def published_course(spec: dict[str, Any], *, course_id: uuid.UUID | None = None,
                     instructor_id: uuid.UUID | None = None,
                     prerequisite_ids: list[uuid.UUID] | None = None) -> PublishedCourse:
    """Build a payload from an evaluation-course spec (``tests/fixtures/ai/courses/*.json`` shape)."""
    course_id = course_id or uuid.uuid4()
    instructor_id = instructor_id or uuid.uuid4()
    course = PublishedCourse(course_id, instructor_id, {})
    modules = []
    for module in spec["modules"]:
        module_id = uuid.uuid4()
        assets = []
        for asset in module["assets"]:
            asset_id = uuid.uuid4()
            key = None
            if asset["asset_type"] == "article":
                key = content_key(course_id, module_id, asset_id)
                course.documents[key] = json.dumps(asset["document"]).encode()
            course.titles[asset_id] = asset["title"]
            assets.append({"asset_id": str(asset_id), "title": asset["title"], "asset_type": asset["asset_type"],
                           "source_url": asset.get("source_url"), "content_key": key,
                           "description": asset.get("description")})
        modules.append({"module_id": str(module_id), "title": module["title"], "assets": assets})
    course.payload = {"course_id": str(course_id), "instructor_id": str(instructor_id), "title": spec["title"],
                      "description": spec.get("description"), "published_at": "2026-12-01T10:00:00+00:00",
                      "modules": modules, "prerequisite_ids": [str(p) for p in prerequisite_ids or []]}
    return course


def evaluation_courses() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((FIXTURES / "courses").glob("*.json"))}


def evaluation_questions() -> dict[str, Any]:
    return dict(json.loads((FIXTURES / "questions.json").read_text()))


def fixture_path(*parts: str) -> Path:
    return FIXTURES.joinpath(*parts)
