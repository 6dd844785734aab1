"""Schema conventions every service database shares: constraint/index names and common column shapes.

One place for them, so that the LMS and notification tables (and their
migrations) name things the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, func

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """The MetaData of one service database, with the shared naming convention."""
    return MetaData(naming_convention=NAMING)


def one_of(column: str, values: Iterable[str]) -> str:
    """A CHECK expression: ``column`` holds one of ``values`` (a domain enum class, or its values)."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def timestamp(name: str, *, nullable: bool = True, default_now: bool = False) -> Column[Any]:
    """A ``timestamptz`` column, defaulting to ``now()`` when asked."""
    return Column(name, DateTime(timezone=True), nullable=nullable,
                  server_default=func.now() if default_now else None)
