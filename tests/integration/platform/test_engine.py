"""The engine every function uses keeps statement parameters (hashes, tokens, emails) out of error texts."""

from __future__ import annotations

import pytest
from smartcourse.db.engine import make_engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

pytestmark = pytest.mark.integration


def test_a_failing_statement_does_not_carry_its_parameters_into_the_error(postgres) -> None:
    engine = make_engine(postgres.url)
    try:
        with engine.connect() as connection, pytest.raises(DBAPIError) as caught:
            # PostgreSQL's own message ("division by zero") names no value; only SQLAlchemy could echo it.
            connection.execute(text("SELECT 1 / 0 WHERE CAST(:token AS text) IS NOT NULL"),
                               {"token": "refresh-token-secret"})
    finally:
        engine.dispose()
    assert "division by zero" in str(caught.value)
    assert "refresh-token-secret" not in str(caught.value)
