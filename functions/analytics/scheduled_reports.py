"""The two report schedules (EventBridge Scheduler): each instructor's weekly digest (Mondays 07:00 UTC) and
the daily platform report for each admin (06:00 UTC). Each queues its reports for the report builder, at most
one per owner per period however often it fires."""

from datetime import datetime
from typing import Any

from smartcourse.observability import observed
from smartcourse_analytics.catalogue import function
from smartcourse_analytics.reports import Schedule, get_reports

WEEKLY = function("analytics-weekly-digests")
DAILY = function("analytics-daily-platform-report")
reports = get_reports()


def fired_at(event: Any) -> datetime | None:
    """The firing time an EventBridge event carries (``time``); None (now) for the scheduler's empty input."""
    raw = event.get("time") if isinstance(event, dict) else None
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")) if raw else None
    except ValueError:
        return None


def _queue(schedule: Schedule, event: Any) -> dict[str, Any]:
    queued = reports.queue_scheduled(schedule, fired_at(event))
    return {"schedule": schedule.value, "queued": len(queued), "report_ids": [str(r) for r in queued]}


@observed
def weekly_digests(event: Any, context: Any) -> dict[str, Any]:
    return _queue(Schedule.WEEKLY, event)


@observed
def daily_platform_report(event: Any, context: Any) -> dict[str, Any]:
    return _queue(Schedule.DAILY, event)
