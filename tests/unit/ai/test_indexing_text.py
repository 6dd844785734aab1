"""Editor documents to sections, sections to chunks that fit the embedder's window; the job message."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from smartcourse_ai.domain import chunk_id, estimated_minutes
from smartcourse_ai.indexing.chunking import PATH_SEPARATOR, chunk_sections, heading_path, media_chunks
from smartcourse_ai.indexing.documents import CorruptDocument, document_words, parse_document
from smartcourse_ai.indexing.jobs import IndexJob

from tests.support.ai import document, heading, paragraph


def words(text: str) -> int:
    return len(text.split())


def test_sections_follow_the_headings_and_keep_lists_and_code() -> None:
    doc = document(
        paragraph("Intro before any heading."),
        heading("Setup", 1),
        paragraph("Install it."),
        heading("On Linux", 2),
        {"type": "bulletList", "content": [
            {"type": "listItem", "content": [paragraph("apt-get install it")]},
            {"type": "listItem", "content": [paragraph("or build it")]}]},
        {"type": "codeBlock", "content": [{"type": "text", "text": "make\nmake install"}]},
        heading("Usage", 1),
        {"type": "orderedList", "content": [{"type": "listItem", "content": [paragraph("run it")]}]},
    )
    sections = parse_document(json.dumps(doc).encode())
    assert [s.headings for s in sections] == [(), ("Setup",), ("Setup", "On Linux"), ("Usage",)]
    assert sections[2].blocks == ["- apt-get install it", "- or build it", "make\nmake install"]
    assert sections[3].blocks == ["1. run it"]
    assert document_words(sections) == 20  # list markers count as words: an estimate of reading time


@pytest.mark.parametrize("data", [
    b"{not json", b"\xff\xfe", b"[]", json.dumps({"schema": "other", "doc": {}}).encode(),
    json.dumps({"schema": "smartcourse.editor.v1"}).encode(),
    json.dumps(document({"type": "heading", "content": []})).encode(),
    json.dumps(document({"type": "image"})).encode(),
    json.dumps(document({"type": "paragraph", "content": [{"type": "text"}]})).encode(),
])
def test_anything_else_is_a_corrupt_document(data: bytes) -> None:
    with pytest.raises(CorruptDocument):
        parse_document(data)


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    node: dict = paragraph("deep")
    for _ in range(200):
        node = {"type": "blockquote", "content": [node]}
    with pytest.raises(CorruptDocument, match="nested"):
        parse_document(json.dumps(document(node)).encode())


def test_headings_start_chunks_and_every_chunk_fits_the_window() -> None:
    long = " ".join(f"Sentence number {i} talks about soil and water." for i in range(60))
    doc = document(heading("Short"), paragraph("One line."), heading("Long"), paragraph(long))
    chunks = chunk_sections(parse_document(json.dumps(doc).encode()), ["Module", "Article"], words, max_tokens=50)
    assert chunks[0].heading_path == heading_path("Module", "Article", "Short")
    assert chunks[0].content == "One line."
    assert len(chunks) > 2 and all(c.token_count <= 50 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    # Nothing is lost: the long section's chunks put back together are its text.
    assert " ".join(c.content for c in chunks[1:]) == long
    assert chunks[1].embedded_text.startswith(heading_path("Module", "Article", "Long") + "\n")


def test_a_sentence_longer_than_the_window_is_cut_at_words() -> None:
    chunks = chunk_sections(parse_document(json.dumps(document(paragraph("word " * 120))).encode()), ["M"], words,
                            max_tokens=30)
    assert all(c.token_count <= 30 for c in chunks) and sum(words(c.content) for c in chunks) == 120


def test_heading_path_skips_a_repeated_part_and_media_is_indexed_by_title_and_description() -> None:
    assert heading_path("Mod", "Lists", "lists", "Tuples") == PATH_SEPARATOR.join(["Mod", "Lists", "Tuples"])
    [chunk] = media_chunks(["Mod", "Intro video"], "Intro video", "What the course covers.", words, 100)
    assert chunk.heading_path == heading_path("Mod", "Intro video")
    assert chunk.content == "Intro video. What the course covers."


def test_chunk_ids_are_deterministic_per_content_and_model() -> None:
    asset = uuid.uuid4()
    assert chunk_id(asset, "h", "m", 0) == chunk_id(asset, "h", "m", 0)
    assert len({chunk_id(asset, "h", "m", 0), chunk_id(asset, "h2", "m", 0), chunk_id(asset, "h", "m2", 0),
                chunk_id(asset, "h", "m", 1)}) == 4


def test_estimated_minutes() -> None:
    assert estimated_minutes(0, 0) == 1
    assert estimated_minutes(2000, 0) == 10
    assert estimated_minutes(1000, 2) == 25


def test_an_index_job_round_trips_through_its_message_body() -> None:
    job = IndexJob(course_id=uuid.uuid4(), asset_id=uuid.uuid4(), run_id=uuid.uuid4(),
                   planned_at=datetime(2026, 12, 1, tzinfo=UTC), force=True)
    assert IndexJob.from_json(job.to_json()) == job
    with pytest.raises((ValueError, KeyError)):
        IndexJob.from_json("[]")


def test_a_heading_longer_than_the_window_is_cut_and_the_text_still_fills_chunks() -> None:
    doc = document(heading("very long heading " * 60), paragraph("body text words " * 100))
    chunks = chunk_sections(parse_document(json.dumps(doc).encode()), ["Module"], words, max_tokens=64)
    assert all(c.token_count <= 64 for c in chunks)
    assert all(words(c.heading_path) <= 32 for c in chunks)
    assert len(chunks) <= 10  # not one chunk per word
