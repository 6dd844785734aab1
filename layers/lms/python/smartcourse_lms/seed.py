"""Demo data for the local cloud (never run in a deployed stage).

Accounts (passwords are documented in the README, local only):

- the admin from SMARTCOURSE_ADMIN_EMAIL / SMARTCOURSE_ADMIN_PASSWORD (skipped when unset)
- instructor1..2@smartcourse.local / ``Instructor-pass-1``
- student1..5@smartcourse.local / ``Student-pass-1``
- three demo courses of the instructors: two published (with modules and video/link assets), one draft
- the five students enrolled in *Data Analysis with SQL*, at different points of it (analytics to look at)
- articles (editor documents) in a published course, whose content is really in the content bucket: added by
  :func:`seed_article_content` once the local cloud's buckets exist (after the runner started); a course with
  demo articles is published only then, so that its ``course.published`` names them and the AI service
  indexes their text

Idempotent: accounts that exist are left as they are; a course is matched on its instructor and title, an
article on its module and title (its content is uploaded again only when missing or different).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from sqlalchemy import URL, Engine

from smartcourse_lms.auth.domain import Role

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
    from smartcourse.db.engine import make_engine
    from smartcourse.db.unit_of_work import unit_of_work_factory
    from smartcourse.errors import Conflict
    from smartcourse.settings import get_settings

    from smartcourse_lms.auth.service import AuthConfig, AuthService

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
        result["learning"] = seed_learning(engine)
        return result
    finally:
        if not isinstance(database, Engine):
            engine.dispose()


def seed_courses(engine: Engine) -> dict[str, list[str]]:
    """The demo courses through the course service (so their events reach the outbox); assets inserted directly."""
    import uuid

    from smartcourse.db.unit_of_work import unit_of_work_factory
    from sqlalchemy import and_, insert, select

    from smartcourse_lms.auth.domain import Principal
    from smartcourse_lms.courses.service import CourseService
    from smartcourse_lms.tables import assets, courses, users

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
            if published and existing.status == "draft" and not _has_demo_articles(email, title):
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
        if published and not _has_demo_articles(email, title):
            service.publish_course(owner, course.id)
        result["created"].append(title)
    return result


# (student email, course title, progress per asset in course order: (percent, seconds)): learners at different
# points of one published course, so that its instructor's analytics show something from the first start.
DEMO_LEARNING: tuple[tuple[str, str, tuple[tuple[float, int], ...]], ...] = (
    ("student1@smartcourse.local", "Data Analysis with SQL", ((100, 900), (100, 1200))),
    ("student2@smartcourse.local", "Data Analysis with SQL", ((100, 600), (40, 300))),
    ("student3@smartcourse.local", "Data Analysis with SQL", ((60, 420),)),
    ("student4@smartcourse.local", "Data Analysis with SQL", ((10, 60),)),
    ("student5@smartcourse.local", "Data Analysis with SQL", ()),
)


def seed_learning(engine: Engine) -> dict[str, list[str]]:
    """Demo enrollments and progress through the enrollment service (their events reach the outbox).

    Only for an enrollment created now: a second start does not add time again. No course is completed (a
    completion renders a certificate into a bucket that does not exist yet at seeding time).
    """
    from smartcourse.db.unit_of_work import unit_of_work_factory
    from sqlalchemy import and_, select

    from smartcourse_lms.auth.domain import Principal
    from smartcourse_lms.enrollments.service import CertificateStore, EnrollmentService
    from smartcourse_lms.tables import assets, courses, modules, users

    service = EnrollmentService(unit_of_work_factory(engine), store=CertificateStore(lambda: None),
                                public_base_url=lambda: "")
    result: dict[str, list[str]] = {"created": [], "existing": []}
    for email, title, progress in DEMO_LEARNING:
        with engine.connect() as conn:
            user_id = conn.execute(select(users.c.id).where(users.c.email == email)).scalar()
            course = conn.execute(select(courses.c.id).where(and_(courses.c.title == title,
                                                                  courses.c.status == "published"))).scalar()
            asset_ids = conn.execute(
                select(assets.c.id).join(modules, modules.c.id == assets.c.module_id)
                .where(modules.c.course_id == course).order_by(modules.c.order_index, assets.c.order_index)
            ).scalars().all() if course else []
        if user_id is None or course is None:
            continue
        learner = Principal(user_id=user_id, roles=frozenset({Role.STUDENT.value}))
        enrolled = service.enroll(learner, {"course_id": course})
        if not enrolled.created:
            result["existing"].append(email)
            continue
        for asset_id, (percent, seconds) in zip(asset_ids, progress, strict=False):
            service.record_progress(learner, asset_id, {"progress_percent": percent, "time_spent_seconds": seconds,
                                                        "is_completed": percent >= 100})
        result["created"].append(email)
    return result


def _has_demo_articles(email: str, title: str) -> bool:
    return any(a[0] == email and a[1] == title for a in DEMO_ARTICLES)


def publish_after_content(engine: Engine) -> list[str]:
    """Publish the demo courses that waited for their articles (idempotent: published ones stay as they are)."""
    from smartcourse.db.unit_of_work import unit_of_work_factory
    from sqlalchemy import and_, select

    from smartcourse_lms.auth.domain import Principal
    from smartcourse_lms.courses.service import CourseService
    from smartcourse_lms.tables import courses, users

    service = CourseService(unit_of_work_factory(engine))
    published: list[str] = []
    for email, title, *_rest, publish, _modules in DEMO_COURSES:
        if not publish or not _has_demo_articles(email, title):
            continue
        with engine.connect() as conn:
            row = conn.execute(select(courses.c.id, courses.c.status, courses.c.instructor_id)
                               .join(users, users.c.id == courses.c.instructor_id)
                               .where(and_(users.c.email == email, courses.c.title == title))).first()
        if row is None or row.status != "draft":
            continue
        service.publish_course(Principal(user_id=row.instructor_id, roles=frozenset({Role.INSTRUCTOR.value})),
                               row.id)
        published.append(title)
    return published


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _paragraph(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [_text(text)]}


PYTHON_ARTICLE: dict[str, Any] = {"schema": "smartcourse.editor.v1", "doc": {"type": "doc", "content": [
    {"type": "heading", "attrs": {"level": 1}, "content": [_text("Python in a nutshell")]},
    _paragraph("Python is a general-purpose programming language that reads almost like plain English. "
               "You write a program in a text file ending in .py and run it with the python command."),
    {"type": "heading", "attrs": {"level": 2}, "content": [_text("Your first program")]},
    {"type": "codeBlock", "content": [_text('name = "world"\nprint(f"Hello, {name}!")')]},
    _paragraph("Variables hold values, functions group steps under a name, and indentation marks blocks."),
    {"type": "bulletList", "content": [
        {"type": "listItem", "content": [_paragraph("Numbers, strings and lists are built in.")]},
        {"type": "listItem", "content": [_paragraph("if, for and while steer the flow of a program.")]},
        {"type": "listItem", "content": [_paragraph("The standard library covers files, dates, JSON and more.")]},
    ]},
]}}

def _heading(text: str, level: int = 2) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": level}, "content": [_text(text)]}


COLLECTIONS_ARTICLE: dict[str, Any] = {"schema": "smartcourse.editor.v1", "doc": {"type": "doc", "content": [
    _heading("Lists, tuples and dictionaries", 1),
    _paragraph("Real programs work with many values at once. Python gives you three everyday containers, and "
               "choosing the right one makes code shorter and faster."),
    _heading("Lists keep things in order"),
    _paragraph("A list holds items in the order you put them and can grow or shrink: append adds an item at the "
               "end, insert puts one at a position, and pop removes one. Items are numbered from zero, so "
               "names[0] is the first name and names[-1] the last."),
    _heading("Tuples never change"),
    _paragraph("A tuple looks like a list in round brackets, but once created it cannot be modified. Use one "
               "for a fixed group of values, such as the latitude and longitude of a place, or to return "
               "several values from a function."),
    _heading("Dictionaries look things up by key"),
    _paragraph("A dictionary maps keys to values, like a phone book maps names to numbers. Looking up a key is "
               "fast no matter how many entries there are, which makes dictionaries the tool of choice for "
               "counting words, caching results or grouping records. Asking for a missing key raises a "
               "KeyError; the get method returns a default instead."),
    _heading("Looping over collections"),
    _paragraph("A for loop visits every item of a list or tuple in order. Looping over a dictionary gives its "
               "keys; items() gives key and value pairs together, and enumerate adds a running number to any "
               "sequence."),
]}}

# (instructor email, course title, module title, article title, editor document)
DemoArticle = tuple[str, str, str, str, dict[str, Any]]
DEMO_ARTICLES: tuple[DemoArticle, ...] = (
    ("instructor1@smartcourse.local", "Python for Beginners", "Getting started", "Python in a nutshell",
     PYTHON_ARTICLE),
    ("instructor1@smartcourse.local", "Python for Beginners", "Control flow", "Lists, tuples and dictionaries",
     COLLECTIONS_ARTICLE),
)


def seed_article_content(database: str | URL | Engine, put_object: Callable[[str, bytes], None],
                         read_object: Callable[[str], bytes | None]) -> dict[str, list[str]]:
    """The demo articles, with their content in the content bucket; runs once the bucket exists.

    ``put_object(key, body)`` stores an object and ``read_object(key)`` returns it (``None`` when missing), both
    in the content bucket. A missing article asset is added to its (seeded) module; its document is uploaded
    under the asset's content key and the asset marked ``ready`` with size and SHA-256, as a completed upload
    would. An article already ready whose object is there with the same hash is left alone, so this is
    idempotent, and it repairs a database that outlived the emulator's objects. Then the demo courses that waited
    for their articles are published. Returns ``{"uploaded": [titles], "existing": [titles], "published":
    [course titles]}``; articles whose course or module is missing are skipped.
    """
    import uuid

    from smartcourse.db.engine import make_engine
    from sqlalchemy import and_, func, insert, select, update

    from smartcourse_lms.assets.repository import next_order_index
    from smartcourse_lms.learning.content import check_document, content_key, sha256_hex
    from smartcourse_lms.tables import assets, courses, modules, users

    engine = database if isinstance(database, Engine) else make_engine(database)
    result: dict[str, list[str]] = {"uploaded": [], "existing": []}
    try:
        for email, course_title, module_title, title, document in DEMO_ARTICLES:
            body = json.dumps(document).encode()
            problems = check_document(body)
            assert not problems, problems  # the demo document is valid editor content
            digest = sha256_hex(body)
            with engine.begin() as conn:
                found = conn.execute(
                    select(courses.c.id.label("course_id"), modules.c.id.label("module_id"))
                    .select_from(users.join(courses, courses.c.instructor_id == users.c.id)
                                 .join(modules, modules.c.course_id == courses.c.id))
                    .where(and_(users.c.email == email, courses.c.title == course_title,
                                modules.c.title == module_title))).first()
                if found is None:
                    continue
                asset = conn.execute(select(assets).where(and_(
                    assets.c.module_id == found.module_id, assets.c.title == title,
                    assets.c.asset_type == "article")).with_for_update()).first()
                if asset is None:
                    asset_id = uuid.uuid4()
                    conn.execute(insert(assets).values(id=asset_id, module_id=found.module_id, title=title,
                                                       asset_type="article", status="draft",
                                                       order_index=next_order_index(conn, found.module_id)))
                    asset = conn.execute(select(assets).where(assets.c.id == asset_id)).one()
                key = content_key(found.course_id, found.module_id, asset.id)
                if asset.status == "ready" and asset.content_hash == digest:
                    stored = read_object(key)
                    if stored is not None and sha256_hex(stored) == digest:
                        result["existing"].append(title)
                        continue
                put_object(key, body)
                same = asset.status == "ready" and asset.content_hash == digest
                conn.execute(update(assets).where(assets.c.id == asset.id).values(
                    status="ready", size_bytes=len(body), content_hash=digest, validation_error=None,
                    content_version=asset.content_version + (0 if same else 1), updated_at=func.now()))
                result["uploaded"].append(title)
        result["published"] = publish_after_content(engine)
        return result
    finally:
        if not isinstance(database, Engine):
            engine.dispose()
