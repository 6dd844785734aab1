"""The migrated databases enforce exactly the domain's vocabularies.

The tables modules build their CHECK constraints from the domain enums; the migrations spell the same values
out on their own (as migrations must). Here each service database is migrated for real and every
``column IN (...)`` constraint PostgreSQL holds is compared, value by value and in order, with the enum the
tables module built it from.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Any

import pytest
from smartcourse.db.engine import normalise_url
from smartcourse.db.migrate import upgrade
from smartcourse.outbox.rules import OutboxStatus
from smartcourse.principal import Role
from smartcourse_lms import tables as lms_tables
from smartcourse_lms.auth.domain import UserStatus
from smartcourse_lms.learning.courses import AssetStatus, AssetType, CourseStatus, Level, ProcessingStatus
from smartcourse_lms.learning.enrollments import EnrollmentStatus
from smartcourse_notification import tables as notification_tables
from smartcourse_notification.domain import Channel, SendStatus
from sqlalchemy import CheckConstraint, MetaData, create_engine, text

pytestmark = pytest.mark.integration

QUOTED = re.compile(r"'([^']*)'")

# Which enum each vocabulary column holds: what the test is about, not a copy of the values.
ENUMS: dict[str, dict[tuple[str, str], type[StrEnum]]] = {
    "lms": {
        ("outbox", "status"): OutboxStatus,
        ("users", "status"): UserStatus,
        ("user_roles", "role"): Role,
        ("courses", "status"): CourseStatus,
        ("courses", "processing_status"): ProcessingStatus,
        ("courses", "level"): Level,
        ("assets", "asset_type"): AssetType,
        ("assets", "status"): AssetStatus,
        ("enrollments", "status"): EnrollmentStatus,
    },
    "notification": {
        ("sends", "channel"): Channel,
        ("sends", "status"): SendStatus,
    },
}
METADATA: dict[str, MetaData] = {"lms": lms_tables.metadata, "notification": notification_tables.metadata}


def _vocabulary_checks(metadata: MetaData) -> set[tuple[str, str]]:
    """(table, column) of every ``column IN (...)`` CHECK of the tables module."""
    found = set()
    for table in metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, CheckConstraint):
                match = re.search(r"(\w+) IN \(", str(constraint.sqltext))
                if match:
                    found.add((table.name, match.group(1)))
    return found


@pytest.mark.parametrize("service", sorted(ENUMS))
def test_every_vocabulary_column_has_its_domain_enum(service: str) -> None:
    assert set(_vocabulary_checks(METADATA[service])) == set(ENUMS[service])


@pytest.mark.parametrize("service", sorted(ENUMS))
def test_the_migrated_constraints_allow_exactly_the_enum_values(postgres: Any, service: str) -> None:
    url = postgres.database_url(f"vocab_{service}_{uuid.uuid4().hex[:8]}")
    upgrade(url, service=service)
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            for table, column in _vocabulary_checks(METADATA[service]):
                # Found by what they check, not by name: PostgreSQL shows `(column)::text = ANY (ARRAY[...])`.
                definitions = [d for d in conn.execute(text(
                    "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                    "WHERE c.contype = 'c' AND t.relname = :table"), {"table": table}).scalars()
                    if re.search(rf"\b{column}\)?(::text)? = ANY", d)]
                expected = [member.value for member in ENUMS[service][(table, column)]]
                assert [QUOTED.findall(d) for d in definitions] == [expected], (table, column, definitions)
    finally:
        engine.dispose()
