"""Pagination bounds shared by every service's list routes (``?limit=&offset=``), and their query parameter types.

A list route declares ``limit: Limit = DEFAULT_LIMIT, offset: Offset = 0``: both bounds come from here, so a
huge offset is a 422 on every route, never a database error, and the OpenAPI documents show the same limits.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 1_000_000  # far beyond any real page; keeps a huge offset a 422, never a database error

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
