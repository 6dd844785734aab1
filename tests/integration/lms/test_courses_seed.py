"""The demo courses of the seed, against real PostgreSQL: created once, published ones complete, events emitted."""

from __future__ import annotations

from typing import Any

import pytest
from smartcourse_lms.auth.passwords import fast_passwords_for_tests
from smartcourse_lms.seed import DEMO_COURSES, publish_after_content, seed_demo
from sqlalchemy import create_engine, text

from tests.support.auth import fresh_database

pytestmark = pytest.mark.integration


def test_seed_creates_the_demo_courses_once(postgres: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMARTCOURSE_ADMIN_EMAIL", raising=False)
    url = fresh_database(postgres, "seedcourses")
    first = seed_demo(url, passwords=fast_passwords_for_tests())
    assert sorted(first["courses"]["created"]) == sorted(c[1] for c in DEMO_COURSES)
    second = seed_demo(url, passwords=fast_passwords_for_tests())
    assert second["courses"]["created"] == [] and len(second["courses"]["existing"]) == len(DEMO_COURSES)
    from smartcourse.db.engine import normalise_url

    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT title, status FROM courses")).all())
            empty_modules = conn.execute(text(
                "SELECT count(*) FROM modules m JOIN courses c ON c.id = m.course_id WHERE c.status = 'published' "
                "AND NOT EXISTS (SELECT 1 FROM assets a WHERE a.module_id = m.id)")).scalar_one()
            events = dict(conn.execute(text("SELECT event_type, count(*) FROM outbox "
                                            "WHERE aggregate_type = 'course' GROUP BY event_type")).all())
    finally:
        engine.dispose()
    # The course with demo articles waits for them (seed_article_content publishes it once they are stored).
    assert sorted(statuses.values()) == ["draft", "draft", "published"]
    assert empty_modules == 0
    assert events == {"course.created": 3, "course.published": 1}
    engine = create_engine(normalise_url(url))
    try:
        assert publish_after_content(engine) == ["Python for Beginners"]
        assert publish_after_content(engine) == []
        with engine.connect() as conn:
            published = conn.execute(text("SELECT count(*) FROM outbox WHERE event_type = 'course.published'"))
            assert published.scalar_one() == 2
    finally:
        engine.dispose()


def test_seed_enrolls_the_demo_learners_with_their_progress_once(postgres: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from smartcourse.db.engine import normalise_url
    from smartcourse_lms.seed import DEMO_LEARNING

    monkeypatch.delenv("SMARTCOURSE_ADMIN_EMAIL", raising=False)
    url = fresh_database(postgres, "seedlearning")
    first = seed_demo(url, passwords=fast_passwords_for_tests())
    second = seed_demo(url, passwords=fast_passwords_for_tests())
    assert sorted(first["learning"]["created"]) == sorted(email for email, _, _ in DEMO_LEARNING)
    assert second["learning"]["created"] == [] and len(second["learning"]["existing"]) == len(DEMO_LEARNING)
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            events = dict(conn.execute(text(
                "SELECT event_type, count(*) FROM outbox WHERE event_type IN "
                "('enrollment.created', 'progress.updated', 'enrollment.completed') GROUP BY event_type")).all())
            seconds = conn.execute(text("SELECT coalesce(sum(time_spent_seconds), 0) FROM asset_progress")
                                   ).scalar_one()
    finally:
        engine.dispose()
    expected_progress = [step for _, _, steps in DEMO_LEARNING for step in steps]
    assert events == {"enrollment.created": len(DEMO_LEARNING), "progress.updated": len(expected_progress)}
    assert seconds == sum(s for _, s in expected_progress)
