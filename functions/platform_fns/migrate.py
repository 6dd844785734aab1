"""Deploy-time migrations: ``alembic upgrade head`` for the LMS database.

Invoked by a custom resource on deploy; the ``migrations/`` folder is shipped
at the code asset root next to ``lms/`` and ``platform/``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SERVICES = ("lms",)


def migrations_root() -> Path:
    for candidate in (HERE.parent / "migrations", HERE.parents[1] / "migrations"):
        if (candidate / "lms" / "env.py").exists():
            return candidate
    raise FileNotFoundError(f"no migrations folder next to {HERE}")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from smartcourse.db.migrate import upgrade

    root = migrations_root()
    for service in SERVICES:
        log.info("migrating %s", service)
        upgrade(service=service, root=root)
    # Shaped for a CloudFormation custom resource provider as well as a plain invoke.
    return {"PhysicalResourceId": "smartcourse-migrations", "Data": {"migrated": ",".join(SERVICES)}}
