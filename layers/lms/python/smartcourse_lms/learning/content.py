"""Article content: the editor-document validator, upload checks and S3 object keys. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from smartcourse.errors import BadRequest, PayloadTooLarge, ValidationFailed

EDITOR_SCHEMA = "smartcourse.editor.v1"
CONTENT_TYPE = "application/json"
MAX_CONTENT_BYTES = 2 * 1024 * 1024
MIN_TEXT_CHARS = 100
MAX_TEXT_CHARS = 200_000
MAX_NODES = 50_000

INLINE_TYPES = frozenset({"text", "hardBreak"})
BLOCK_TYPES = frozenset({"heading", "paragraph", "bulletList", "orderedList", "codeBlock", "blockquote"})
NODE_TYPES = INLINE_TYPES | BLOCK_TYPES | {"doc", "listItem"}
# What each node may contain. Loose on purpose where editors differ (a list item holds blocks, a code
# block may hold a hard break) but strict where a renderer would break (inline vs. block, list items).
ALLOWED_CHILDREN: dict[str, frozenset[str]] = {
    "doc": BLOCK_TYPES,
    "blockquote": BLOCK_TYPES,
    "listItem": BLOCK_TYPES,
    "bulletList": frozenset({"listItem"}),
    "orderedList": frozenset({"listItem"}),
    "heading": INLINE_TYPES,
    "paragraph": INLINE_TYPES,
    "codeBlock": INLINE_TYPES,
    "text": frozenset(),
    "hardBreak": frozenset(),
}


@dataclass(frozen=True)
class ContentProblem:
    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# A path is a linked list of segments (parent, segment) rendered only when a problem is reported, so
# walking a deeply nested document stays linear instead of copying ever longer strings.
_Path = tuple["_Path | None", str]
ROOT: _Path = (None, "$")


def _key(path: _Path, key: str) -> _Path:
    return (path, f".{key}" if _IDENTIFIER.match(key) else f"[{json.dumps(key)}]")


def _index(path: _Path, index: int) -> _Path:
    return (path, f"[{index}]")


def _render(path: _Path) -> str:
    segments: list[str] = []
    node: _Path | None = path
    while node is not None:
        segments.append(node[1])
        node = node[0]
    return "".join(reversed(segments))


def _is_int(value: object) -> bool:
    # bool is a subclass of int, but `true` is not a heading level.
    return isinstance(value, int) and not isinstance(value, bool)


# --- keys and hashes -----------------------------------------------------------------------------------------

def content_key(course_id: uuid.UUID | str, module_id: uuid.UUID | str, asset_id: uuid.UUID | str) -> str:
    return f"courses/{course_id}/modules/{module_id}/assets/{asset_id}/content.json"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- upload requests -----------------------------------------------------------------------------------------

def check_size(size_bytes: int) -> None:
    if size_bytes > MAX_CONTENT_BYTES:
        raise PayloadTooLarge(f"Content is larger than {MAX_CONTENT_BYTES} bytes")


def check_upload_request(content_type: str, size_bytes: int) -> None:
    """What an article upload URL may be requested for; the presigned PUT then pins both values."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != CONTENT_TYPE:
        raise ValidationFailed("Article content must be application/json",
                               [{"loc": ["body", "content_type"], "msg": f"must be {CONTENT_TYPE}",
                                 "type": "value_error"}])
    if isinstance(size_bytes, bool) or size_bytes < 1:
        raise ValidationFailed("size_bytes must be at least 1",
                               [{"loc": ["body", "size_bytes"], "msg": "must be at least 1",
                                 "type": "greater_than_equal"}])
    check_size(size_bytes)


def parse_document(data: bytes) -> Any:
    """Decode uploaded bytes as JSON; BadRequest (400) when they are not UTF-8 JSON."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest("Content is not valid UTF-8 JSON") from error
    except RecursionError as error:  # the stdlib decoder recurses; absurd nesting must stay a 400
        raise BadRequest("Content is nested too deeply") from error


# --- editor document validation ------------------------------------------------------------------------------

@dataclass
class _Walk:
    problems: list[ContentProblem]
    nodes: int = 0
    text_chars: int = 0

    def add(self, path: _Path, message: str) -> None:
        self.problems.append(ContentProblem(_render(path), message))


def validate_document(document: object, size_bytes: int | None = None) -> list[ContentProblem]:
    """Every problem of an editor document, each with its JSON path. Never raises on JSON-like input."""
    walk = _Walk(problems=[])
    if size_bytes is not None and size_bytes > MAX_CONTENT_BYTES:
        walk.add(ROOT, f"document is {size_bytes} bytes, at most {MAX_CONTENT_BYTES} allowed")
    if not isinstance(document, dict):
        walk.add(ROOT, "must be an object with 'schema' and 'doc'")
        return walk.problems
    if document.get("schema") != EDITOR_SCHEMA:
        walk.add(_key(ROOT, "schema"), f"must be '{EDITOR_SCHEMA}'")
    if "doc" not in document:
        walk.add(_key(ROOT, "doc"), "is required")
    else:
        _walk_nodes(walk, document["doc"])
    doc_path = _key(ROOT, "doc")
    if walk.nodes > MAX_NODES:
        walk.add(doc_path, f"has {walk.nodes} nodes, at most {MAX_NODES} allowed")
    if not MIN_TEXT_CHARS <= walk.text_chars <= MAX_TEXT_CHARS:
        walk.add(doc_path, f"has {walk.text_chars} characters of text, {MIN_TEXT_CHARS} to {MAX_TEXT_CHARS} required")
    return walk.problems


def _walk_nodes(walk: _Walk, root: object) -> None:
    # An explicit stack instead of recursion: a hostile document may nest far deeper than Python's stack.
    stack: list[tuple[object, _Path, str | None]] = [(root, _key(ROOT, "doc"), None)]
    while stack:
        node, path, parent_type = stack.pop()
        walk.nodes += 1
        node_type = _check_node(walk, node, path, parent_type)
        if node_type is None or not isinstance(node, dict):
            continue
        children = node.get("content")
        if children is None:
            if node_type == "doc":
                walk.add(_key(path, "content"), "is required")
            continue
        content_path = _key(path, "content")
        if not isinstance(children, list):
            walk.add(content_path, "must be an array")
            continue
        if not ALLOWED_CHILDREN[node_type] and children:
            walk.add(content_path, f"a {node_type} node has no content")
            continue
        # Reversed so problems come out in document order.
        for index in range(len(children) - 1, -1, -1):
            stack.append((children[index], _index(content_path, index), node_type))


def _check_node(walk: _Walk, node: object, path: _Path, parent_type: str | None) -> str | None:
    """Check one node; its type when the walk should descend into it, else None."""
    if not isinstance(node, dict):
        walk.add(path, "must be a node object")
        return None
    node_type = node.get("type")
    if not isinstance(node_type, str) or node_type not in NODE_TYPES:
        walk.add(_key(path, "type"), f"must be one of {', '.join(sorted(NODE_TYPES))}")
        return None
    if parent_type is None and node_type != "doc":
        walk.add(_key(path, "type"), "must be 'doc'")
    elif parent_type is not None and node_type not in ALLOWED_CHILDREN[parent_type]:
        walk.add(_key(path, "type"), f"a {node_type} node cannot appear inside {parent_type}")
    attrs = node.get("attrs")
    if attrs is not None and not isinstance(attrs, dict):
        walk.add(_key(path, "attrs"), "must be an object")
    if node_type == "heading":
        _check_heading(walk, attrs, path)
    elif node_type == "text":
        _check_text(walk, node, path)
    return node_type


def _check_heading(walk: _Walk, attrs: object, path: _Path) -> None:
    level_path = _key(_key(path, "attrs"), "level")
    level = attrs.get("level") if isinstance(attrs, dict) else None
    if level is None:
        walk.add(level_path, "is required")
    elif not _is_int(level) or not 1 <= level <= 6:
        walk.add(level_path, "must be an integer from 1 to 6")


def _check_text(walk: _Walk, node: dict[Any, Any], path: _Path) -> None:
    text = node.get("text")
    if not isinstance(text, str):
        walk.add(_key(path, "text"), "must be a string")
    else:
        walk.text_chars += len(text)
    marks = node.get("marks")
    if marks is None:
        return
    if not isinstance(marks, list):
        walk.add(_key(path, "marks"), "must be an array")
        return
    for index, mark in enumerate(marks):
        if not isinstance(mark, dict) or not isinstance(mark.get("type"), str):
            walk.add(_index(_key(path, "marks"), index), "must be an object with a string 'type'")


def check_document(data: bytes) -> list[ContentProblem]:
    """The whole completion check of uploaded bytes: 413 above the limit, 400 for non-JSON, then the schema.

    An empty list means the content is acceptable.
    """
    check_size(len(data))
    return validate_document(parse_document(data), len(data))
