"""Demo data for the local cloud (never run in a deployed stage).

Accounts (passwords are documented in the README, local only):

- the admin from SMARTCOURSE_ADMIN_EMAIL / SMARTCOURSE_ADMIN_PASSWORD (skipped when unset)
- instructor1..2@smartcourse.local / ``Instructor-pass-1``
- student1..5@smartcourse.local / ``Student-pass-1``

Idempotent: accounts that exist are left as they are.
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
        return result
    finally:
        if not isinstance(database, Engine):
            engine.dispose()
