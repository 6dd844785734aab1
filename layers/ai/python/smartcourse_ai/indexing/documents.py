"""An article's editor document (``smartcourse.editor.v1``) as text that keeps its structure. Pure: no I/O.

The LMS validated the document when it was uploaded; the AI service still reads it defensively (its own
parser, never the LMS's code): anything that is not the expected shape is a ``CorruptDocument`` for that
asset alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

EDITOR_SCHEMA = "smartcourse.editor.v1"
MAX_DEPTH = 64


class CorruptDocument(ValueError):
    """The bytes are not an editor document this service can read."""


@dataclass
class Section:
    """The text under one heading: its path of headings (outermost first) and its blocks, in order."""

    headings: tuple[str, ...]
    blocks: list[str] = field(default_factory=list)


def _inline(node: Any) -> str:
    parts: list[str] = []
    for child in node.get("content") or ():
        if not isinstance(child, dict):
            raise CorruptDocument("inline content must be objects")
        if child.get("type") == "text":
            text = child.get("text")
            if not isinstance(text, str):
                raise CorruptDocument("a text node without text")
            parts.append(text)
        elif child.get("type") == "hardBreak":
            parts.append("\n")
    return "".join(parts).strip()


def _blocks(node: Any, depth: int, out: list[str], prefix: str = "") -> None:
    if depth > MAX_DEPTH:
        raise CorruptDocument("the document is nested too deeply")
    if not isinstance(node, dict):
        raise CorruptDocument("a node must be an object")
    kind = node.get("type")
    children = node.get("content") or []
    if not isinstance(children, list):
        raise CorruptDocument("content must be a list")
    if kind in ("paragraph", "heading"):
        text = _inline(node)
        if text:
            out.append(prefix + text)
    elif kind == "codeBlock":
        text = _inline(node)
        if text:
            out.append(text)
    elif kind in ("bulletList", "orderedList"):
        for number, item in enumerate(children, start=1):
            marker = f"{number}. " if kind == "orderedList" else "- "
            _blocks(item, depth + 1, out, marker)
    elif kind in ("listItem", "blockquote"):
        for index, child in enumerate(children):
            # A list item's first paragraph carries the marker; its following blocks are its continuation.
            _blocks(child, depth + 1, out, prefix if index == 0 else "")
    else:
        raise CorruptDocument(f"unexpected node type {kind!r}")


def parse_document(data: bytes) -> list[Section]:
    """The sections of an editor document: a new one at every heading, nested by heading level."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptDocument(f"not JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from None
    if not isinstance(document, dict) or document.get("schema") != EDITOR_SCHEMA:
        raise CorruptDocument(f"not a {EDITOR_SCHEMA} document")
    root = document.get("doc")
    if not isinstance(root, dict) or root.get("type") != "doc" or not isinstance(root.get("content", []), list):
        raise CorruptDocument("the document has no 'doc' root")
    sections = [Section(headings=())]
    trail: list[tuple[int, str]] = []  # (level, heading) of the open headings
    for node in root.get("content") or []:
        if isinstance(node, dict) and node.get("type") == "heading":
            level = (node.get("attrs") or {}).get("level")
            if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 6:
                raise CorruptDocument("a heading without a level from 1 to 6")
            title = _inline(node)
            trail = [(lvl, text) for lvl, text in trail if lvl < level] + [(level, title)]
            sections.append(Section(headings=tuple(text for _, text in trail if text)))
            continue
        _blocks(node, 1, sections[-1].blocks)
    return [s for s in sections if s.blocks or s.headings]


def document_words(sections: list[Section]) -> int:
    return sum(len(block.split()) for section in sections for block in section.blocks)
