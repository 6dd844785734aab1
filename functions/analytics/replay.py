"""Rebuilds the analytics read models from the event archive (invoked by an operator; no trigger).

Event: ``{}``, or ``{"force": true}`` to run even when the archive is empty (which empties the read models).
Returns the counts (objects, events, applied, skipped by kind) and the elapsed seconds.
"""

from typing import Any

from smartcourse.db.engine import get_engine
from smartcourse.observability import observed
from smartcourse.settings import get_settings
from smartcourse_analytics.archive_store import S3Archive
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.replay import replay

FUNCTION = function("analytics-replay")


@observed
def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    bucket = get_settings().archive_bucket
    if not bucket:
        raise RuntimeError("ARCHIVE_BUCKET is not set")
    force = isinstance(event, dict) and event.get("force") is True
    return replay(get_engine(), S3Archive(bucket), force=force).as_dict()
