"""The retrieval-evaluation fixture (tests/fixtures/ai): courses the LMS would accept and questions that fit them.

The courses are built by tests/fixtures/ai/build_courses.py; the questions are written by hand. A question's gold
section is the text from its gold heading to the next heading of the same or a higher level (a video's gold is its
description). Questions must paraphrase: none may repeat four consecutive words of its gold section.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from smartcourse_lms.learning.content import check_document
from smartcourse_lms.learning.courses import AssetType, Level

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ai"
COURSE_SLUGS = ("python-data-basics", "web-security", "personal-finance")
MIN_ARTICLE_WORDS = 350
MIN_QUESTIONS = 105
MIN_QUESTIONS_PER_COURSE = 35
MIN_OFF_TOPIC = 35
MAX_SHARED_RUN = 3  # a question may repeat at most 3 consecutive words of its gold section
QUESTION_WORDS = (4, 30)  # a little looser than the 5-25 the questions aim for


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


COURSES: dict[str, dict[str, Any]] = {slug: _load(FIXTURES / "courses" / f"{slug}.json") for slug in COURSE_SLUGS}
QUESTIONS: dict[str, Any] = _load(FIXTURES / "questions.json")


def _articles() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for slug, course in COURSES.items():
        for module in course["modules"]:
            for asset in module["assets"]:
                if asset["asset_type"] == AssetType.ARTICLE.value:
                    yield slug, module, asset


ARTICLES = list(_articles())


def _text(node: dict[str, Any]) -> str:
    if node.get("type") == "text":
        return str(node["text"])
    separator = "\n" if node.get("type") in ("doc", "bulletList", "orderedList", "listItem", "blockquote") else ""
    return separator.join(_text(child) for child in node.get("content") or [])


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _sections(document: dict[str, Any]) -> dict[str, str]:
    """Heading text -> the section's text: the heading and every block up to the next heading of its level or above."""
    blocks = document["doc"]["content"]
    sections: dict[str, str] = {}
    for start, block in enumerate(blocks):
        if block["type"] != "heading":
            continue
        level = block["attrs"]["level"]
        end = start + 1
        while end < len(blocks) and not (blocks[end]["type"] == "heading" and blocks[end]["attrs"]["level"] <= level):
            end += 1
        sections[_text(block)] = "\n".join(_text(b) for b in blocks[start:end])
    return sections


def _longest_shared_run(question: str, passage: str) -> tuple[int, str]:
    """The longest run of consecutive words (alphanumeric, case-insensitive) the question shares with the passage."""
    q, p = _words(question), _words(passage)
    best, where = 0, ""
    previous = [0] * (len(p) + 1)
    for i in range(1, len(q) + 1):
        current = [0] * (len(p) + 1)
        for j in range(1, len(p) + 1):
            if q[i - 1] == p[j - 1]:
                run = current[j] = previous[j - 1] + 1
                if run > best:
                    best, where = run, " ".join(q[i - run:i])
        previous = current
    return best, where


def _asset(slug: str, module_title: str, asset_title: str) -> dict[str, Any] | None:
    for module in COURSES[slug]["modules"]:
        if module["title"] == module_title:
            return next((a for a in module["assets"] if a["title"] == asset_title), None)
    return None


# --- courses -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("slug", COURSE_SLUGS)
def test_a_course_has_the_lms_fields_and_shape(slug: str) -> None:
    course = COURSES[slug]
    assert course["slug"] == slug
    assert course["title"].strip() and course["description"].strip() and course["category"].strip()
    assert course["level"] in {level.value for level in Level}
    assert 3 <= len(course["modules"]) <= 4
    assert len({m["title"] for m in course["modules"]}) == len(course["modules"])
    for module in course["modules"]:
        kinds = Counter(a["asset_type"] for a in module["assets"])
        assert 2 <= kinds[AssetType.ARTICLE.value] <= 3, module["title"]
        assert sum(kinds.values()) - kinds[AssetType.ARTICLE.value] <= 1, module["title"]
        assert len({a["title"] for a in module["assets"]}) == len(module["assets"]), module["title"]
        for asset in module["assets"]:
            assert asset["asset_type"] in {t.value for t in AssetType}
            assert asset["title"].strip() and asset["description"].strip(), asset["title"]
            if asset["asset_type"] == AssetType.ARTICLE.value:
                assert "document" in asset and "source_url" not in asset, asset["title"]
            else:
                assert asset["source_url"].startswith("https://") and "document" not in asset, asset["title"]


def test_the_checked_in_courses_match_their_sources() -> None:
    spec = importlib.util.spec_from_file_location("build_courses", FIXTURES / "build_courses.py")
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    built = {meta["slug"]: builder.parse_course(meta, text) for meta, text in builder.COURSES}
    assert built == COURSES, "run tests/fixtures/ai/build_courses.py after editing the sources"


def test_the_three_courses_cover_different_categories() -> None:
    assert len({course["category"] for course in COURSES.values()}) == len(COURSES)


@pytest.mark.parametrize(("slug", "module", "asset"), ARTICLES, ids=[f"{s}/{a['title']}" for s, _, a in ARTICLES])
def test_an_article_passes_the_lms_completion_check(slug: str, module: dict[str, Any], asset: dict[str, Any]) -> None:
    data = json.dumps(asset["document"]).encode("utf-8")
    assert [str(problem) for problem in check_document(data)] == []


@pytest.mark.parametrize(("slug", "module", "asset"), ARTICLES, ids=[f"{s}/{a['title']}" for s, _, a in ARTICLES])
def test_an_article_is_long_and_structured(slug: str, module: dict[str, Any], asset: dict[str, Any]) -> None:
    document = asset["document"]
    blocks = document["doc"]["content"]
    headings = [_text(b) for b in blocks if b["type"] == "heading"]
    assert len(headings) == len(set(headings)), f"duplicate headings: {headings}"
    assert all(b["attrs"]["level"] in (2, 3) for b in blocks if b["type"] == "heading")
    assert blocks[0]["type"] == "heading", "text before the first heading belongs to no section"
    assert len(_words(_text(document["doc"]))) >= MIN_ARTICLE_WORDS
    assert any(b["type"] in ("bulletList", "orderedList") for b in blocks)


# --- questions -----------------------------------------------------------------------------------------------

def test_question_ids_are_unique_and_counts_are_met() -> None:
    questions, off_topic = QUESTIONS["questions"], QUESTIONS["off_topic"]
    ids = [q["id"] for q in questions] + [q["id"] for q in off_topic]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert len(questions) >= MIN_QUESTIONS
    per_course = Counter(q["course"] for q in questions)
    assert set(per_course) == set(COURSE_SLUGS)
    assert min(per_course.values()) >= MIN_QUESTIONS_PER_COURSE, per_course
    assert len(off_topic) >= MIN_OFF_TOPIC
    texts = [q["question"].strip().lower() for q in questions + off_topic]
    assert len(texts) == len(set(texts)), "duplicate question text"


def test_every_gold_answer_exists_in_its_course() -> None:
    problems = []
    for q in QUESTIONS["questions"]:
        gold = q["gold"]
        asset = _asset(q["course"], gold["module"], gold["asset"]) if q["course"] in COURSES else None
        if asset is None:
            problems.append(f"{q['id']}: no asset {gold['module']!r} / {gold['asset']!r} in {q['course']!r}")
        elif gold["heading"] is None:
            if asset["asset_type"] == AssetType.ARTICLE.value:
                problems.append(f"{q['id']}: an article answer needs a heading")
        elif asset["asset_type"] != AssetType.ARTICLE.value or gold["heading"] not in _sections(asset["document"]):
            problems.append(f"{q['id']}: no heading {gold['heading']!r} in {gold['asset']!r}")
    assert problems == []


def test_every_article_is_the_answer_to_some_question() -> None:
    answered = {(q["course"], q["gold"]["asset"]) for q in QUESTIONS["questions"]}
    assert [f"{slug}/{a['title']}" for slug, _, a in ARTICLES if (slug, a["title"]) not in answered] == []


def test_questions_paraphrase_their_gold_section() -> None:
    problems = []
    for q in QUESTIONS["questions"]:
        gold = q["gold"]
        asset = _asset(q["course"], gold["module"], gold["asset"])
        assert asset is not None, q["id"]
        passage = asset["description"] if gold["heading"] is None else _sections(asset["document"])[gold["heading"]]
        run, words = _longest_shared_run(q["question"], passage)
        if run > MAX_SHARED_RUN:
            problems.append(f"{q['id']}: repeats {words!r}")
    assert problems == []


def test_questions_have_a_realistic_length() -> None:
    low, high = QUESTION_WORDS
    lengths = {q["id"]: len(q["question"].split()) for q in QUESTIONS["questions"] + QUESTIONS["off_topic"]}
    assert {i: n for i, n in lengths.items() if not low <= n <= high} == {}
