"""The article editor-document validator, upload checks and object keys."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smartcourse.errors import BadRequest, ValidationFailed
from smartcourse.http import status_of
from smartcourse_lms.learning.content import (
    MAX_CONTENT_BYTES,
    MAX_NODES,
    MAX_TEXT_CHARS,
    ContentProblem,
    PayloadTooLarge,
    check_document,
    check_upload_request,
    content_key,
    parse_document,
    sha256_hex,
    validate_document,
)

LONG_TEXT = "Photosynthesis turns light into chemical energy. " * 3  # > 100 characters


def text(value: str = LONG_TEXT) -> dict[str, Any]:
    return {"type": "text", "text": value}


def document(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"schema": "smartcourse.editor.v1", "doc": {"type": "doc", "content": list(blocks)}}


def valid_document() -> dict[str, Any]:
    return document(
        {"type": "heading", "attrs": {"level": 1}, "content": [text("Plants")]},
        {"type": "paragraph", "content": [{"type": "text", "text": "Bold", "marks": [{"type": "bold"}]},
                                          {"type": "hardBreak"}, text()]},
        {"type": "bulletList", "content": [{"type": "listItem", "content": [{"type": "paragraph",
                                                                              "content": [text("leaf")]}]}]},
        {"type": "orderedList", "attrs": {"start": 1},
         "content": [{"type": "listItem", "content": [{"type": "paragraph"}]}]},
        {"type": "codeBlock", "attrs": {"language": "python"}, "content": [text("print('hi')")]},
        {"type": "blockquote", "content": [{"type": "paragraph", "content": [text("quote")]}]},
    )


def paths(problems: list[ContentProblem]) -> list[str]:
    return [p.path for p in problems]


def test_a_document_with_every_node_type_is_valid() -> None:
    assert validate_document(valid_document()) == []


def test_schema_marker_is_required() -> None:
    doc = valid_document()
    doc["schema"] = "prosemirror"
    assert paths(validate_document(doc)) == ["$.schema"]
    del doc["schema"]
    assert paths(validate_document(doc)) == ["$.schema"]


@pytest.mark.parametrize("value", [None, [], "doc", 3, True])
def test_root_must_be_an_object(value: object) -> None:
    assert paths(validate_document(value)) == ["$"]


def test_doc_is_required_and_must_be_a_doc_node() -> None:
    assert "$.doc" in paths(validate_document({"schema": "smartcourse.editor.v1"}))
    problems = validate_document({"schema": "smartcourse.editor.v1", "doc": {"type": "paragraph", "content": []}})
    assert "$.doc.type" in paths(problems)
    assert "$.doc.content" in paths(validate_document({"schema": "smartcourse.editor.v1", "doc": {"type": "doc"}}))


@pytest.mark.parametrize("level", [0, 7, -1, "2", 2.0, True, False, None, [1]])
def test_heading_level_must_be_an_integer_from_1_to_6(level: object) -> None:
    doc = valid_document()
    doc["doc"]["content"][3] = {"type": "heading", "attrs": {"level": level}, "content": [text("x")]}
    assert paths(validate_document(doc)) == ["$.doc.content[3].attrs.level"]


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5, 6])
def test_heading_levels_1_to_6_are_fine(level: int) -> None:
    doc = valid_document()
    doc["doc"]["content"][0]["attrs"]["level"] = level
    assert validate_document(doc) == []


def test_heading_without_attrs_is_reported() -> None:
    doc = valid_document()
    del doc["doc"]["content"][0]["attrs"]
    assert paths(validate_document(doc)) == ["$.doc.content[0].attrs.level"]
    doc["doc"]["content"][0]["attrs"] = "big"
    assert paths(validate_document(doc)) == ["$.doc.content[0].attrs", "$.doc.content[0].attrs.level"]


@pytest.mark.parametrize("value", [None, 5, ["a"], {"a": 1}])
def test_text_must_be_a_string(value: object) -> None:
    doc = valid_document()
    doc["doc"]["content"][1]["content"][2] = {"type": "text", "text": value}
    doc["doc"]["content"][1]["content"].append(text())  # keep the length check satisfied
    assert paths(validate_document(doc)) == ["$.doc.content[1].content[2].text"]


def test_unknown_node_types_and_non_objects_are_reported() -> None:
    doc = valid_document()
    doc["doc"]["content"].extend([{"type": "image", "attrs": {"src": "x"}}, "paragraph", {"content": []}])
    assert paths(validate_document(doc)) == ["$.doc.content[6].type", "$.doc.content[7]", "$.doc.content[8].type"]


def test_nesting_rules() -> None:
    doc = document(
        text(),  # inline directly in doc
        {"type": "bulletList", "content": [{"type": "paragraph", "content": [text("x")]}]},  # list needs listItem
        {"type": "paragraph", "content": [{"type": "paragraph"}]},  # block inside inline container
        {"type": "listItem", "content": []},  # list item outside a list
        {"type": "hardBreak", "content": [text("x")]},
    )
    assert paths(validate_document(doc)) == [
        "$.doc.content[0].type", "$.doc.content[1].content[0].type", "$.doc.content[2].content[0].type",
        "$.doc.content[3].type", "$.doc.content[4].type", "$.doc.content[4].content",
    ]


def test_malformed_content_attrs_and_marks_are_reported() -> None:
    doc = valid_document()
    doc["doc"]["content"][5]["content"] = {"type": "paragraph"}
    doc["doc"]["content"][4]["attrs"] = ["python"]
    doc["doc"]["content"][1]["content"][0]["marks"] = [{"type": "bold"}, "italic"]
    doc["doc"]["content"][0]["content"][0]["marks"] = "bold"
    assert paths(validate_document(doc)) == [
        "$.doc.content[0].content[0].marks", "$.doc.content[1].content[0].marks[1]", "$.doc.content[4].attrs",
        "$.doc.content[5].content",
    ]


def test_every_problem_is_reported_not_just_the_first() -> None:
    doc = document(*[{"type": "heading", "attrs": {"level": 9}, "content": [text()]} for _ in range(5)])
    doc["schema"] = "v0"
    problems = validate_document(doc)
    assert len(problems) == 6
    assert all(p.message for p in problems)
    assert problems[0].to_dict() == {"path": "$.schema", "message": problems[0].message}


def test_text_length_bounds() -> None:
    assert paths(validate_document(document({"type": "paragraph", "content": [text("x" * 99)]}))) == ["$.doc"]
    assert validate_document(document({"type": "paragraph", "content": [text("x" * 100)]})) == []
    assert validate_document(document({"type": "paragraph", "content": [text("x" * MAX_TEXT_CHARS)]})) == []
    too_long = document({"type": "paragraph", "content": [text("x" * 150_000)]},
                        {"type": "paragraph", "content": [text("x" * 50_001)]})
    assert paths(validate_document(too_long)) == ["$.doc"]


def test_node_limit() -> None:
    # doc + paragraph + N text nodes
    at_limit = document({"type": "paragraph", "content": [text("x")] * (MAX_NODES - 2)})
    assert validate_document(at_limit) == []
    over = document({"type": "paragraph", "content": [text("x")] * (MAX_NODES - 1)})
    problems = validate_document(over)
    assert paths(problems) == ["$.doc"] and str(MAX_NODES) in problems[0].message


def test_size_limit_is_reported_by_the_validator() -> None:
    assert validate_document(valid_document(), MAX_CONTENT_BYTES) == []
    assert paths(validate_document(valid_document(), MAX_CONTENT_BYTES + 1)) == ["$"]


def test_deep_nesting_does_not_crash() -> None:
    paragraph: dict[str, Any] = {"type": "paragraph", "content": [text()]}
    inner = paragraph
    for _ in range(MAX_NODES - 4):  # doc, paragraph and text make up the rest
        inner = {"type": "blockquote", "content": [inner]}
    assert validate_document(document(inner)) == []
    paragraph["attrs"] = "x"
    deep = validate_document(document(inner))
    assert len(deep) == 1 and deep[0].path == "$.doc.content[0]" + ".content[0]" * (MAX_NODES - 4) + ".attrs"


def test_validator_does_not_mutate_its_input() -> None:
    doc = valid_document()
    before = copy.deepcopy(doc)
    validate_document(doc)
    assert doc == before


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
    | st.sampled_from(["doc", "heading", "paragraph", "text", "bulletList", "listItem", "hardBreak"]),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.sampled_from(["type", "content", "attrs", "level", "text", "marks", "schema", "doc", "x"])
                      | st.text(max_size=5), children, max_size=5),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(JSON_LIKE)
def test_validator_never_raises_on_json_like_input(value: object) -> None:
    problems = validate_document(value)
    assert isinstance(problems, list) and all(isinstance(p, ContentProblem) for p in problems)
    wrapped = validate_document({"schema": "smartcourse.editor.v1", "doc": value})
    assert isinstance(wrapped, list) and all(p.path.startswith("$") for p in wrapped)


@settings(max_examples=100, deadline=None)
@given(JSON_LIKE)
def test_validator_never_raises_inside_content_arrays(value: object) -> None:
    doc = document({"type": "paragraph", "content": [value, text()]}, value if isinstance(value, dict) else text())
    assert isinstance(validate_document(doc), list)


def test_content_key_and_hash() -> None:
    course, module, asset = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert content_key(course, module, asset) == f"courses/{course}/modules/{module}/assets/{asset}/content.json"
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert len(sha256_hex(b"")) == 64


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON", "application/json; charset=utf-8"])
@pytest.mark.parametrize("size", [1, 1024, MAX_CONTENT_BYTES])
def test_acceptable_upload_requests(content_type: str, size: int) -> None:
    check_upload_request(content_type, size)


@pytest.mark.parametrize("content_type", ["text/html", "application/pdf", "", "application/jsonx"])
def test_upload_must_be_json(content_type: str) -> None:
    with pytest.raises(ValidationFailed):
        check_upload_request(content_type, 10)


@pytest.mark.parametrize("size", [0, -1])
def test_upload_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValidationFailed):
        check_upload_request("application/json", size)


def test_upload_above_two_mebibytes_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        check_upload_request("application/json", MAX_CONTENT_BYTES + 1)
    assert status_of(caught.value) == 413


def test_check_document_end_to_end() -> None:
    good = json.dumps(valid_document()).encode()
    assert check_document(good) == []
    with pytest.raises(BadRequest):
        check_document(b"{not json")
    with pytest.raises(BadRequest):
        check_document(b"\xff\xfe")
    with pytest.raises(PayloadTooLarge):
        check_document(b" " * (MAX_CONTENT_BYTES + 1))
    assert paths(check_document(b"[]")) == ["$"]


def test_absurdly_nested_json_is_a_bad_request_not_a_crash() -> None:
    with pytest.raises(BadRequest):
        parse_document(b"[" * 200_000 + b"]" * 200_000)
