"""The one place database and database-role names are spelled.

Each service owns one database, ``smartcourse_<service>``, and one login role of the same name that can
connect to and change that database only (see :mod:`smartcourse.db.roles`). The stacks (``DB_NAME``, the
service secrets' usernames), the migrate function, the settings' default and the local cloud all take the
names from here.

Pure: no I/O (handlers import it through the settings).
"""

from __future__ import annotations

import re

from smartcourse.catalogue import Service

# The services that own a database: every service but the platform, which has no data of its own.
DATABASE_SERVICES: tuple[str, ...] = tuple(str(s) for s in Service if s is not Service.PLATFORM)

PREFIX = "smartcourse_"
# A service name: lower-case letters, digits and underscores, so that the derived names are plain
# PostgreSQL identifiers (at most 63 bytes) that never need quoting rules beyond double quotes.
_SERVICE = re.compile(rf"^[a-z][a-z0-9_]{{0,{62 - len(PREFIX)}}}$")


def _checked(service: str) -> str:
    if not isinstance(service, str) or not _SERVICE.match(service):
        raise ValueError(f"not a service name: {service!r}")
    return service


def database_name(service: str) -> str:
    """``smartcourse_<service>``: the service's database (the functions' ``DB_NAME``)."""
    return PREFIX + _checked(str(service))


def role_name(service: str) -> str:
    """The service's login role: the same string as its database (role ``smartcourse_lms`` uses database
    ``smartcourse_lms``, and nothing else)."""
    return PREFIX + _checked(str(service))


def service_of_database(database: str) -> str | None:
    """The service whose database is ``database`` (``smartcourse_lms`` -> ``lms``), else None."""
    if not database.startswith(PREFIX):
        return None
    service = database[len(PREFIX):]
    return service if _SERVICE.match(service) else None
