"""The AI service over HTTP in the local cloud: publish → indexed (the LMS course's processing_status and the
instructor's mail follow) → search → ask (and stream) → quiz (saved in the LMS) → summary → recommendations →
archive → gone. Nothing here calls an AI function directly: LMS API, Kafka, SQS, S3 and the AI API only."""

from __future__ import annotations

import json

import httpx
import psycopg
import pytest
from localcloud.cloud import LocalCloud
from localcloud.mailbox import wait_for_email

from tests.e2e.ai.conftest import LiveCourse, publish_course, wait_for, wait_until_indexed
from tests.e2e.support import Account, register
from tests.support.ai import document, evaluation_courses, heading, paragraph

pytestmark = pytest.mark.e2e

XSS_QUESTION = "someone left a comment on my site and now a stranger's script runs in every visitor's browser"


def _search(ai: httpx.Client, who: Account, query: str, **extra: object) -> list[dict]:
    response = ai.post("/api/v1/search", json={"query": query, **extra}, headers=who.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def test_publish_indexes_the_course_and_the_lms_and_the_instructor_hear_of_it(
        http: httpx.Client, ai: httpx.Client, cloud: LocalCloud, security_course: LiveCourse) -> None:
    status = wait_until_indexed(ai, security_course)
    assert status["chunks"] > 10 and status["embeddings"] == status["chunks"]
    assert status["assets_done"] == status["assets_total"] == len(security_course.assets)
    assert status["embedding_model"] == "all-MiniLM-L6-v2-int8" and status["last_error"] is None

    def lms_ready() -> bool:
        course = http.get(f"/api/v1/courses/{security_course.id}", headers=security_course.owner.headers).json()
        return bool(course.get("processing_status") == "ready")

    wait_for(lms_ready, 60, "the LMS course's processing_status")
    mail = wait_for_email(cloud.aws.endpoint, security_course.owner.email, subject_contains="ready for AI",
                          timeout=60)
    assert "Web Application Security" in mail.subject


def test_a_learner_finds_and_asks_in_other_words(ai: httpx.Client, http: httpx.Client,
                                                 security_course: LiveCourse, student: Account) -> None:
    results = _search(ai, student, XSS_QUESTION, limit=5)
    assert results and results[0]["course_id"] == security_course.id
    assert "Cross-Site Scripting" in results[0]["heading_path"]
    # The existing client's path and body (similarity_threshold 0.7) keep working.
    legacy = ai.post("/api/v1/content/search", json={"query": XSS_QUESTION, "similarity_threshold": 0.7,
                                                     "limit": 5, "course_ids": [security_course.id]},
                     headers=student.headers)
    assert legacy.status_code == 200 and legacy.json()["results"], legacy.text

    asked = ai.post("/api/v1/rag/ask", json={"question": XSS_QUESTION, "course_ids": [security_course.id],
                                             "provider": "openai", "model_name": "gpt-4"}, headers=student.headers)
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert answer["model"] == "extractive-v1" and 0 < answer["confidence"] <= 1
    assert answer["sources"] and {s["course_id"] for s in answer["sources"]} == {security_course.id}
    assert "[1]" in answer["answer"]

    streamed = ai.post("/api/v1/rag/ask/stream", json={"question": XSS_QUESTION,
                                                       "course_ids": [security_course.id]}, headers=student.headers)
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    frames = [json.loads(f.removeprefix("data: ")) for f in streamed.text.split("\n\n") if f]
    assert "".join(f["delta"] for f in frames[:-1]) == answer["answer"]
    assert frames[-1]["done"] is True and frames[-1]["sources"] == answer["sources"]

    unknown = ai.post("/api/v1/rag/ask", json={"question": "who won the football world cup in 1998?"},
                      headers=student.headers).json()
    assert unknown["answer"].startswith("I don't know") and unknown["sources"] == []


def test_staff_generate_and_save_a_quiz_through_the_lms(ai: httpx.Client, http: httpx.Client,
                                                        security_course: LiveCourse, student: Account) -> None:
    owner = security_course.owner
    module_id = next(iter(security_course.modules.values()))
    assert ai.post(f"/api/v1/ai/courses/{security_course.id}/quiz", json={"num_questions": 3},
                   headers=student.headers).status_code == 403
    made = ai.post(f"/api/v1/ai/courses/{security_course.id}/quiz",
                   json={"num_questions": 4, "difficulty": "hard", "save": True, "module_id": module_id},
                   headers=owner.headers)
    assert made.status_code == 200, made.text
    quiz = made.json()
    assert 1 <= len(quiz["questions"]) <= 4 and quiz["saved_asset_id"]
    for question in quiz["questions"]:
        assert len({o.lower() for o in question["options"]}) == 4 and 0 <= question["answer_index"] <= 3
        assert question["source_chunk_ids"]
    saved = http.get(f"/api/v1/assets/{quiz['saved_asset_id']}", headers=owner.headers)
    assert saved.status_code == 200 and saved.json()["asset_type"] == "quiz"
    assert saved.json()["module_id"] == module_id


def test_summary_and_recommendations(ai: httpx.Client, http: httpx.Client, security_course: LiveCourse,
                                     course_owner: Account) -> None:
    learner = register(http, "student")
    summary = ai.get(f"/api/v1/ai/courses/{security_course.id}/summary", headers=learner.headers)
    assert summary.status_code == 200, summary.text
    body = summary.json()
    assert len(body["summary"]) > 50 and body["key_topics"] and body["estimated_minutes"] >= 1

    # A follow-up course naming the security course as its prerequisite.
    follow_up = publish_course(http, course_owner, {"title": "Secure Sessions Deep Dive", "modules": [
        {"title": "Sessions", "assets": [{"title": "Session fixation", "asset_type": "article", "document": document(
            heading("Fixation"), paragraph("Session fixation lets an attacker choose a victim's session id before "
                                           "login; rotate the id when the user signs in. " * 4))}]}]},
        prerequisite=security_course.id)
    wait_until_indexed(ai, follow_up)

    fresh = ai.get("/api/v1/ai/recommendations/me", headers=learner.headers)
    assert fresh.status_code == 200
    items = {i["course_id"]: i for i in fresh.json()["items"]}
    assert security_course.id in items and items[follow_up.id]["missing_prerequisite_ids"] == [security_course.id]
    assert "first" in items[follow_up.id]["reason"]

    enrolled = http.post("/api/v1/enrollments", json={"course_id": security_course.id}, headers=learner.headers)
    assert enrolled.status_code == 201, enrolled.text

    def updated() -> dict | None:
        items = {i["course_id"]: i for i in ai.get("/api/v1/ai/recommendations/me",
                                                   headers=learner.headers).json()["items"]}
        return items if security_course.id not in items else None

    items = wait_for(updated, 60, "recommendations to drop the enrolled course")
    assert items[follow_up.id]["missing_prerequisite_ids"] == []
    assert items[follow_up.id]["reason"].startswith("Related to")


def test_archive_takes_the_course_out_of_search(ai: httpx.Client, http: httpx.Client, ai_db: psycopg.Connection,
                                                course_owner: Account, student: Account) -> None:
    spec = evaluation_courses()["personal-finance"]
    course = publish_course(http, course_owner, spec, modules=1)
    wait_until_indexed(ai, course)
    question = "Is there a simple percentage split for how much of my paycheck goes to essentials, fun and saving?"
    assert any(r["course_id"] == course.id for r in _search(ai, student, question, course_ids=[course.id]))
    archived = http.post(f"/api/v1/courses/{course.id}/archive", headers=course_owner.headers)
    assert archived.status_code == 200, archived.text

    def gone() -> bool:
        response = ai.post("/api/v1/search", json={"query": question, "course_ids": [course.id]},
                           headers=student.headers)
        return response.status_code == 404

    wait_for(gone, 60, "the archived course to leave search")
    assert all(r["course_id"] != course.id for r in _search(ai, student, question))
    left = ai_db.execute("SELECT count(*) FROM chunks WHERE course_id = %s", (course.id,)).fetchone()
    assert left == (0,)


def test_a_draft_never_reaches_the_ai(ai: httpx.Client, http: httpx.Client, ai_db: psycopg.Connection,
                                      course_owner: Account, student: Account) -> None:
    draft = http.post("/api/v1/courses", json={"title": "Unreleased secrets"}, headers=course_owner.headers).json()
    assert ai.post("/api/v1/search", json={"query": "secrets", "course_ids": [draft["id"]]},
                   headers=student.headers).status_code == 404
    assert ai.get(f"/api/v1/ai/courses/{draft['id']}/summary", headers=student.headers).status_code == 404
    assert ai_db.execute("SELECT count(*) FROM courses WHERE course_id = %s", (draft["id"],)).fetchone() == (0,)


def test_the_seeded_course_answers_a_question_in_other_words(ai: httpx.Client, student: Account) -> None:
    question = "which container should I use to count how often each word appears"
    # The seed publishes it as the local cloud starts: its indexing may still be under way.
    results = wait_for(lambda: _search(ai, student, question), 120, "the seeded course to be indexed", interval=5)
    assert "Dictionaries" in results[0]["heading_path"]
