"""``python -m localcloud.bootstrap_admin``: create (or promote) the first admin.

Credentials come from SMARTCOURSE_ADMIN_EMAIL / SMARTCOURSE_ADMIN_PASSWORD,
never from a default; the database from DATABASE_URL (or DB_SECRET_ARN +
DB_HOST in AWS). Safe to run again: an existing account is promoted, not
duplicated, and its password is left alone.
"""

from __future__ import annotations

import os
import sys

EMAIL_ENV = "SMARTCOURSE_ADMIN_EMAIL"
PASSWORD_ENV = "SMARTCOURSE_ADMIN_PASSWORD"  # noqa: S105 - the variable's name, not a password


def main() -> int:
    email, password = os.environ.get(EMAIL_ENV, "").strip(), os.environ.get(PASSWORD_ENV, "")
    missing = [name for name, value in ((EMAIL_ENV, email), (PASSWORD_ENV, password)) if not value]
    if missing:
        print(f"bootstrap_admin: set {' and '.join(missing)}", file=sys.stderr)
        return 2
    from smartcourse.db.engine import get_engine
    from smartcourse.db.unit_of_work import unit_of_work_factory
    from smartcourse.errors import DomainError
    from smartcourse.settings import get_settings
    from smartcourse_lms.auth.service import AuthConfig, AuthService

    service = AuthService(unit_of_work_factory(get_engine()), AuthConfig.from_settings(get_settings()))
    try:
        user, created = service.bootstrap_admin(email, password)
    except DomainError as exc:
        print(f"bootstrap_admin: {exc}", file=sys.stderr)
        return 1
    print(f"{'created' if created else 'promoted'} admin {user.email} ({user.id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
