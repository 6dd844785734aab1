"""Deploy-time migrations: ``alembic upgrade head`` for every service database.

Invoked by a custom resource on deploy; the ``migrations/`` folder is shipped
at the code asset root next to ``lms/`` and ``platform/``. Only services with
an Alembic environment (``migrations/<service>/env.py``) are migrated; a
missing service database is created first.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


def migrations_root() -> Path:
    for candidate in (HERE.parent / "migrations", HERE.parents[1] / "migrations"):
        if (candidate / "lms" / "env.py").exists():
            return candidate
    raise FileNotFoundError(f"no migrations folder next to {HERE}")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from smartcourse.db.migrate import upgrade_all

    migrated = upgrade_all(root=migrations_root())
    log.info("migrated %s", ", ".join(migrated))
    # Shaped for a CloudFormation custom resource provider as well as a plain invoke.
    return {"PhysicalResourceId": "smartcourse-migrations", "Data": {"migrated": ",".join(migrated)}}
