"""The LMS domain data of ``make bench``: 1,000 published courses, inserted with one SQL statement.

Each course gets one module holding one ready video asset (enough for GET course's counts, for enrollments
and for progress). Titles, categories and levels vary; ``created_at`` is spread so "newest first" has work.
The course ids are handed out in disjoint slices so that every timed enrollment is a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

COURSES = 1000

_INSERT = """
WITH instructor AS (
    SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id
    WHERE r.role = 'instructor' ORDER BY u.email LIMIT 1
), c AS (
    INSERT INTO courses (id, title, description, status, processing_status, instructor_id, max_students,
                         category, level, created_at, updated_at, published_at)
    SELECT gen_random_uuid(),
           (ARRAY['Intro to', 'Practical', 'Advanced', 'Hands-on', 'Mastering'])[1 + mod(i, 5)] || ' ' ||
           (ARRAY['Python', 'SQL', 'Statistics', 'Design', 'Marketing', 'Rust', 'Cloud', 'Spanish'])[1 + mod(i, 8)] ||
           ' #' || i,
           'Benchmark course ' || i || ': lessons, exercises and a final project.',
           'published', 'ready', (SELECT id FROM instructor), NULL,
           (ARRAY['programming', 'data', 'design', 'business', 'languages', 'cloud'])[1 + mod(i, 6)],
           (ARRAY['beginner', 'intermediate', 'advanced'])[1 + mod(i, 3)],
           now() - i * interval '1 minute', now() - i * interval '1 minute', now() - i * interval '1 minute'
    FROM generate_series(1, %(courses)s) AS i
    RETURNING id
), m AS (
    INSERT INTO modules (id, course_id, title, description, order_index)
    SELECT gen_random_uuid(), c.id, 'Getting started', 'First steps', 0 FROM c
    RETURNING id, course_id
), a AS (
    INSERT INTO assets (id, module_id, title, asset_type, source_url, order_index, duration_seconds, status)
    SELECT gen_random_uuid(), m.id, 'Welcome video', 'video', 'https://videos.example.test/welcome.mp4', 0, 300,
           'ready'
    FROM m
    RETURNING id, module_id
)
SELECT m.course_id, m.id, a.id FROM a JOIN m ON m.id = a.module_id ORDER BY m.course_id
"""


@dataclass(frozen=True)
class BenchCourse:
    course_id: str
    module_id: str
    asset_id: str


def insert_courses(database_url: str, count: int = COURSES) -> list[BenchCourse]:
    """Insert ``count`` published courses (one module, one ready asset each) owned by a seeded instructor."""
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        rows = conn.execute(_INSERT, {"courses": count}).fetchall()
    assert len(rows) == count, f"inserted {len(rows)} of {count} courses (is an instructor seeded?)"
    return [BenchCourse(str(c), str(m), str(a)) for c, m, a in rows]
