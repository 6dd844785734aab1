"""Demo data for the local cloud (never run in a deployed stage).

Accounts (passwords are documented in the README, local only):

- the admin from SMARTCOURSE_ADMIN_EMAIL / SMARTCOURSE_ADMIN_PASSWORD (skipped when unset)
- instructor1..2@smartcourse.local / ``Instructor-pass-1``
- student1..5@smartcourse.local / ``Student-pass-1``
- three demo courses of the instructors: two published (with modules and video/link assets), one draft

Idempotent: accounts that exist are left as they are; a course is matched on its instructor and title.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import URL, Engine

from smartcourse.auth.domain import Role

INSTRUCTOR_PASSWORD = "Instructor-pass-1"  # noqa: S105 - documented local demo password
STUDENT_PASSWORD = "Student-pass-1"  # noqa: S105 - documented local demo password
DEMO_USERS: tuple[tuple[str, str, Role, str], ...] = (
    *((f"instructor{i}@smartcourse.local", f"Instructor {i}", Role.INSTRUCTOR, INSTRUCTOR_PASSWORD) for i in (1, 2)),
    *((f"student{i}@smartcourse.local", f"Student {i}", Role.STUDENT, STUDENT_PASSWORD) for i in range(1, 6)),
)

# (instructor email, title, description, category, level, publish?, modules: (title, ((asset type, title, url),)))
DemoCourse = tuple[str, str, str, str, str, bool, tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...]]
DEMO_COURSES: tuple[DemoCourse, ...] = (
    ("instructor1@smartcourse.local", "Python for Beginners", "Variables, control flow and functions, step by step.",
     "programming", "beginner", True, (
         ("Getting started", (("video", "Installing Python", "https://videos.smartcourse.local/python/install"),
                              ("link", "The Python tutorial", "https://docs.python.org/3/tutorial/"))),
         ("Control flow", (("video", "if, for and while", "https://videos.smartcourse.local/python/flow"),)),
     )),
    ("instructor2@smartcourse.local", "Data Analysis with SQL", "Querying, joining and aggregating real data sets.",
     "data", "intermediate", True, (
         ("Selecting data", (("video", "SELECT and WHERE", "https://videos.smartcourse.local/sql/select"),)),
         ("Joins", (("video", "Inner and outer joins", "https://videos.smartcourse.local/sql/joins"),
                    ("pdf", "Join cheat sheet", "https://files.smartcourse.local/sql/joins.pdf"))),
     )),
    ("instructor1@smartcourse.local", "Advanced Python Patterns", "Decorators, generators and typing in depth.",
     "programming", "advanced", False, (
         ("Decorators", (("video", "Decorators explained", "https://videos.smartcourse.local/python/decorators"),)),
     )),
)


def seed_demo(database: str | URL | Engine, *, passwords: Any = None) -> dict[str, Any]:
    """Create the demo accounts; returns ``{"admin": {...} | None, "created": [emails], "existing": [emails]}``."""
    from smartcourse.auth.service import AuthConfig, AuthService
    from smartcourse.db.engine import make_engine
    from smartcourse.db.unit_of_work import unit_of_work_factory
    from smartcourse.errors import Conflict
    from smartcourse.settings import get_settings

    engine = database if isinstance(database, Engine) else make_engine(database)
    try:
        service = AuthService(unit_of_work_factory(engine), AuthConfig.from_settings(get_settings()),
                              passwords=passwords)
        result: dict[str, Any] = {"admin": None, "created": [], "existing": []}
        admin_email, admin_password = os.environ.get("SMARTCOURSE_ADMIN_EMAIL"), os.environ.get(
            "SMARTCOURSE_ADMIN_PASSWORD")
        if admin_email and admin_password:
            admin, created = service.bootstrap_admin(admin_email, admin_password)
            result["admin"] = {"id": str(admin.id), "email": admin.email, "created": created}
        for email, full_name, role, password in DEMO_USERS:
            try:
                registration = service.register(email, password, full_name, role)
            except Conflict:
                result["existing"].append(email)
                continue
            result["created"].append(registration.user.email)
        result["courses"] = seed_courses(engine)
        return result
    finally:
        if not isinstance(database, Engine):
            engine.dispose()


def seed_courses(engine: Engine) -> dict[str, list[str]]:
    """The demo courses through the course service (so their events reach the outbox); assets inserted directly."""
    import uuid

    from sqlalchemy import and_, insert, select

    from smartcourse.auth.domain import Principal
    from smartcourse.courses.service import CourseService
    from smartcourse.db.tables import assets, courses, users
    from smartcourse.db.unit_of_work import unit_of_work_factory

    service = CourseService(unit_of_work_factory(engine))
    result: dict[str, list[str]] = {"created": [], "existing": []}
    for email, title, description, category, level, published, modules in DEMO_COURSES:
        with engine.connect() as conn:
            instructor_id = conn.execute(select(users.c.id).where(users.c.email == email)).scalar()
            existing = None if instructor_id is None else conn.execute(select(courses.c.id, courses.c.status).where(
                and_(courses.c.instructor_id == instructor_id, courses.c.title == title))).first()
        if instructor_id is None:
            continue
        owner = Principal(user_id=instructor_id, roles=frozenset({Role.INSTRUCTOR.value}))
        if existing is not None:
            result["existing"].append(title)
            if published and existing.status == "draft":
                service.publish_course(owner, existing.id)
            continue
        course = service.create_course(owner, {"title": title, "description": description, "category": category,
                                               "level": level})
        for module_title, module_assets in modules:
            module = service.create_module(owner, {"course_id": course.id, "title": module_title})
            with engine.begin() as conn:
                conn.execute(insert(assets), [
                    {"id": uuid.uuid4(), "module_id": module.id, "title": asset_title, "asset_type": asset_type,
                     "source_url": url, "order_index": index, "status": "ready"}
                    for index, (asset_type, asset_title, url) in enumerate(module_assets)
                ])
        if published:
            service.publish_course(owner, course.id)
        result["created"].append(title)
    return result
