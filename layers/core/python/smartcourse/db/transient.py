"""Which database errors are transient: the request may succeed when simply made again."""

from __future__ import annotations

import sys

# SQLSTATE classes and codes of errors that a retry can clear: the connection (08), a transaction rolled back by
# the server (40: deadlock, serialization failure), the server shutting down or starting (57P0x), a lock wait
# given up (55P03).
TRANSIENT_SQLSTATE_CLASSES = ("08", "40")
TRANSIENT_SQLSTATES = ("57P01", "57P02", "57P03", "55P03")


def is_transient_database_error(error: BaseException) -> bool:
    """Whether ``error`` is a database error a retry may clear: 503, not 500.

    SQLAlchemy is not imported here: a function that never loaded it cannot have failed in it, and its import
    would cost every cold start.
    """
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is None or not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is None:
        # No SQLSTATE: the driver never reached a server (refused, unreachable, timed out).
        return isinstance(error, exc.OperationalError)
    return sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES or sqlstate in TRANSIENT_SQLSTATES
