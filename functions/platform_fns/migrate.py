"""Deploy-time database work: every service's database, login role, grants and migrations.

Invoked by a custom resource (a trigger) on deploy. The only function that uses the cluster's master
credentials. Environment:

- ``DB_SECRET_ARN``: the master secret (JSON ``username``/``password``), with ``DB_HOST`` and ``DB_PORT``;
  or ``DATABASE_URL``, an admin URL (local cloud, tests), which wins when set;
- ``DB_SERVICE_SECRET_ARNS``: a JSON object ``{"lms": "<arn>", "notification": "<arn>", ...}``, each secret
  JSON with ``username`` (the service's role, ``smartcourse_<service>``) and ``password``.

For every service of that map, and every service with migrations: the database is created when missing,
the role is created or its password set from the secret (a rotation is picked up), its grants applied;
``alembic upgrade head`` runs as the admin when ``migrations/<service>/env.py`` exists; the grants are
applied again. See ``smartcourse.db.migrate.provision``. The ``migrations/`` folder is shipped at the code
asset root next to ``platform_fns/``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from smartcourse.observability import observed

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


def migrations_root() -> Path:
    for candidate in (HERE.parent / "migrations", HERE.parents[1] / "migrations"):
        if (candidate / "lms" / "env.py").exists():
            return candidate
    raise FileNotFoundError(f"no migrations folder next to {HERE}")


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from smartcourse.db.migrate import provision_from_environment

    done = provision_from_environment(root=migrations_root())
    log.info("databases %s; roles %s; migrated %s", ", ".join(done["databases"]), ", ".join(done["roles"]),
             ", ".join(done["migrated"]))
    # Shaped for a CloudFormation custom resource provider as well as a plain invoke.
    return {"PhysicalResourceId": "smartcourse-migrations",
            "Data": {key: ",".join(values) for key, values in done.items()}}
