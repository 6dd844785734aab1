"""The analytics use cases as handlers get them: imported at init, the service modules only on the first call.

The service modules bring SQLAlchemy, the queries and the report ports (~150 ms of a cold start on a small
machine), which a handler's init must not pay for (``smartcourse.deferred``; primed before a SnapStart snapshot).
Each getter returns the service module's process-wide instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartcourse.deferred import defer

if TYPE_CHECKING:
    from smartcourse_analytics.reports import Reports
    from smartcourse_analytics.service import Analytics

defer("smartcourse_analytics.service", "smartcourse_analytics.reports", "smartcourse.db.engine")


def get_analytics() -> Analytics:
    from smartcourse_analytics.service import get_analytics as get

    return get()


def get_reports() -> Reports:
    from smartcourse_analytics.reports import get_reports as get

    return get()
