"""A report's figures as one self-contained HTML document (inline CSS and SVG charts) or as CSV. No I/O.

The figures are the analytics routes' own answers (``smartcourse_analytics.figures``): a course report is
the course analytics body plus its learners; an instructor report is the instructor overview plus one course
section per own course; a platform report is the platform overview. The HTML has no script and refers to
nothing outside itself (a Content-Security-Policy says so to the browser too); every string that comes from a
user (course, module and learner names) is escaped. A CSV cell that a spreadsheet would run as a formula is
prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from smartcourse_analytics import charts
from smartcourse_analytics.domain import ReportType

PROGRESS_BINS = 10
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
COURSE_CSV_HEADER = ("user_id", "full_name", "status", "percent_complete", "time_spent_seconds", "last_activity_at")
INSTRUCTOR_CSV_HEADER = ("course_id", "title", "enrollments_total", "enrollments_active", "enrollments_completed",
                         "enrollments_dropped", "completion_rate", "average_progress", "median_days_to_complete",
                         "active_last_7_days", "active_last_30_days")
PLATFORM_CSV_HEADER = ("date", "enrolled", "completed", "active_users")
NONE = "\u2013"  # a figure that does not exist (no completion yet: no median)
TITLES = {ReportType.COURSE: "Course report", ReportType.INSTRUCTOR: "Instructor report",
          ReportType.PLATFORM: "Platform report"}


@dataclass(frozen=True)
class CourseFigures:
    analytics: Mapping[str, Any]  # GET /analytics/courses/{id}
    learners: Sequence[Mapping[str, Any]] = ()  # the items of GET /analytics/courses/{id}/learners


@dataclass(frozen=True)
class ReportFigures:
    report_type: ReportType
    period_from: date
    period_to: date
    generated_at: datetime
    courses: Sequence[CourseFigures] = ()  # course report: its course; instructor report: each own course
    overview: Sequence[Mapping[str, Any]] = ()  # instructor report: the instructor overview's items
    platform: Mapping[str, Any] = field(default_factory=dict)  # platform report: GET /analytics/platform
    scheduled: bool = False


# --- numbers ------------------------------------------------------------------------------------------------


def progress_bins(percentages: Iterable[float]) -> list[int]:
    """Learners per 10 % band of course progress: [0, 10), [10, 20) … [90, 100] (100 % in the last band)."""
    counts = [0] * PROGRESS_BINS
    for value in percentages:
        band = min(PROGRESS_BINS - 1, max(0, int(float(value) // (100 / PROGRESS_BINS))))
        counts[band] += 1
    return counts


def bin_labels() -> list[str]:
    step = 100 // PROGRESS_BINS
    return [f"{lo}\u2013{lo + step}%" for lo in range(0, 100, step)]


def percent(ratio: Any) -> str:
    return NONE if ratio is None else f"{float(ratio) * 100:.1f} %"


def number(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.1f}"
    if isinstance(value, int | float):
        return f"{int(value):,}"
    return str(value)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def daily_series(rows: Sequence[Mapping[str, Any]], start: date, end: date, *keys: str) -> dict[str, list[int]]:
    """Per-day values of ``keys`` for every day of the period (days the rows leave out count 0)."""
    by_day = {_day(r["date"]): r for r in rows}
    return {k: [int(by_day.get(d, {}).get(k) or 0) for d in days_between(start, end)] for k in keys}


# --- HTML ---------------------------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1a202c;
background:#f7fafc;margin:0}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:28px 0 8px}h3{font-size:1.05em;margin:20px 0 6px}
.period{color:#4a5568;margin:0}
section.course{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:4px 16px 16px;margin:16px 0}
table{border-collapse:collapse;background:#fff;margin:8px 0;min-width:50%}
th,td{border:1px solid #e2e8f0;padding:4px 10px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
thead th{background:#edf2f7}
figure{margin:12px 0;background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:8px}
figcaption{color:#4a5568;font-size:.9em}
svg.chart{width:100%;height:auto;display:block}
svg.chart *{stroke-linejoin:round;stroke-linecap:butt}
.empty{color:#4a5568;font-style:italic}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _headline_table(rows: Sequence[tuple[str, str]], table_id: str) -> str:
    body = "".join(f'<tr><th scope="row">{_e(k)}</th><td class="num">{_e(v)}</td></tr>' for k, v in rows)
    return f'<table id="{table_id}" class="headline"><tbody>{body}</tbody></table>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], table_id: str, numeric: Iterable[int] = ()) -> str:
    nums = set(numeric)
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="num">{_e(c)}</td>' if i in nums else f"<td>{_e(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td class="empty" colspan="{len(headers)}">None</td></tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"


def course_headline(analytics: Mapping[str, Any]) -> list[tuple[str, str]]:
    enrollments = analytics.get("enrollments") or {}
    active = analytics.get("active_learners") or {}
    return [
        ("Enrollments", number(enrollments.get("total"))),
        ("Active", number(enrollments.get("active"))),
        ("Completed", number(enrollments.get("completed"))),
        ("Dropped", number(enrollments.get("dropped"))),
        ("Completion rate", percent(analytics.get("completion_rate"))),
        ("Average progress", NONE if analytics.get("average_progress") is None
         else f"{float(analytics['average_progress']):.1f} %"),
        ("Median days to complete", number(analytics.get("median_days_to_complete"))),
        ("Active learners, last 7 days", number(active.get("last_7_days"))),
        ("Active learners, last 30 days", number(active.get("last_30_days"))),
    ]


def course_charts(course: CourseFigures, start: date, end: date, prefix: str) -> str:
    a = course.analytics
    per_day = daily_series(a.get("enrollments_over_time") or [], start, end, "enrolled", "completed")
    days = days_between(start, end)
    enrollments = charts.vertical_bars(
        f"{prefix}chart-enrollments", "Enrollments over time", days,
        [charts.Series("Enrolled", per_day["enrolled"], charts.ENROLLED_COLOR),
         charts.Series("Completed", per_day["completed"], charts.COMPLETED_COLOR)],
        y_label="learners per day", empty_text="No enrollments or completions in this period")
    funnel_rows = sorted(a.get("funnel") or [], key=lambda m: int(m.get("order_index") or 0))
    funnel = charts.horizontal_bars(
        f"{prefix}chart-funnel", "Module funnel", [str(m.get("title") or "") for m in funnel_rows],
        [charts.Series("Started", [int(m.get("started") or 0) for m in funnel_rows], charts.ENROLLED_COLOR),
         charts.Series("Completed", [int(m.get("completed") or 0) for m in funnel_rows], charts.COMPLETED_COLOR)],
        x_label="learners", empty_text="No modules published")
    bins = progress_bins(float(item.get("percent_complete") or 0) for item in course.learners)
    distribution = charts.vertical_bars(
        f"{prefix}chart-progress", "Progress distribution", bin_labels(),
        [charts.Series("Learners", bins, charts.ENROLLED_COLOR)],
        y_label="learners", empty_text="No learners yet")
    active = a.get("active_learners") or {}
    activity = charts.vertical_bars(
        f"{prefix}chart-active", "Active learners", ["Last 7 days", "Last 30 days"],
        [charts.Series("Active learners", [int(active.get("last_7_days") or 0), int(active.get("last_30_days") or 0)],
                       charts.ACTIVE_COLOR)],
        y_label="learners", empty_text="No active learners in the last 30 days")
    return "".join([
        _figure(enrollments, "Learners who enrolled and who completed the course, per day of the period."),
        _figure(funnel, "Per module, in course order: learners who started it and who completed every asset."),
        _figure(distribution, "Learners by course progress, in bands of 10 %."),
        _figure(activity, "Learners with at least one progress event in the last 7 and 30 days."),
    ])


def _learners_table(learners: Sequence[Mapping[str, Any]], table_id: str) -> str:
    rows = [[str(x.get("full_name") or ""), str(x.get("status") or ""), f"{float(x.get('percent_complete') or 0):.1f}",
             number(x.get("time_spent_seconds")), str(x.get("last_activity_at") or NONE)] for x in learners]
    return _table(["Learner", "Status", "Progress %", "Time spent (s)", "Last activity"], rows, table_id,
                  numeric=(2, 3))


def _course_body(course: CourseFigures, start: date, end: date, prefix: str, *, with_learners: bool) -> str:
    parts = ["<h3>Headline figures</h3>", _headline_table(course_headline(course.analytics), f"{prefix}headline"),
             "<h3>Charts</h3>", course_charts(course, start, end, prefix)]
    if with_learners:
        parts += ["<h3>Learners</h3>", _learners_table(course.learners, f"{prefix}learners")]
    return "".join(parts)


def platform_headline(p: Mapping[str, Any]) -> list[tuple[str, str]]:
    users = p.get("users") or {}
    per_day = p.get("enrollments_over_time") or []
    rows = [("Users", number(users.get("total")))]
    rows += [(f"Users with role {role}", number(n)) for role, n in sorted((users.get("by_role") or {}).items())]
    return [
        *rows,
        ("Daily active users (DAU)", number(p.get("dau"))), ("Weekly active users (WAU)", number(p.get("wau"))),
        ("Monthly active users (MAU)", number(p.get("mau"))),
        ("Enrollments in the period", number(sum(int(d.get("enrolled") or 0) for d in per_day))),
        ("Completions in the period", number(sum(int(d.get("completed") or 0) for d in per_day))),
    ]


def platform_days(p: Mapping[str, Any], start: date, end: date) -> dict[str, list[int]]:
    """Enrolled, completed and active users per day of the period."""
    return {**daily_series(p.get("enrollments_over_time") or [], start, end, "enrolled", "completed"),
            **daily_series(p.get("active_users_per_day") or [], start, end, "active_users")}


def _platform_body(p: Mapping[str, Any], start: date, end: date) -> str:
    per_day = platform_days(p, start, end)
    days = days_between(start, end)
    enrollments = charts.vertical_bars(
        "chart-enrollments", "Enrollments over time", days,
        [charts.Series("Enrolled", per_day["enrolled"], charts.ENROLLED_COLOR),
         charts.Series("Completed", per_day["completed"], charts.COMPLETED_COLOR)],
        y_label="enrollments per day", empty_text="No enrollments or completions in this period")
    dau = charts.vertical_bars(
        "chart-active", "Daily active users", days,
        [charts.Series("Active users", per_day["active_users"], charts.ACTIVE_COLOR)],
        y_label="users per day", empty_text="No activity in this period")
    top = [[str(c.get("title") or ""), number(c.get("enrollments")), number(c.get("completions")),
            percent(c.get("completion_rate"))] for c in p.get("top_courses") or []]
    return "".join([
        "<h2>Headline figures</h2>", _headline_table(platform_headline(p), "headline"), "<h2>Charts</h2>",
        _figure(enrollments, "Enrollments and completions on the platform, per day of the period."),
        _figure(dau, "Users with at least one progress event, per day of the period."),
        "<h2>Top courses</h2>",
        _table(["Course", "Enrollments", "Completions", "Completion rate"], top, "top-courses", numeric=(1, 2, 3)),
    ])


def _instructor_body(figures: ReportFigures) -> str:
    rows = []
    for item in figures.overview:
        enrollments = item.get("enrollments") or {}
        active = item.get("active_learners") or {}
        rows.append([str(item.get("title") or ""), number(enrollments.get("total")), number(enrollments.get("active")),
                     number(enrollments.get("completed")), percent(item.get("completion_rate")),
                     number(active.get("last_7_days"))])
    parts = ["<h2>Your courses</h2>",
             _table(["Course", "Enrollments", "Active", "Completed", "Completion rate", "Active, last 7 days"],
                    rows, "overview", numeric=(1, 2, 3, 4, 5))]
    for index, course in enumerate(figures.courses, start=1):
        prefix = f"course-{index}-"
        parts.append(f'<section class="course" id="{prefix}section"><h2>{_e(course.analytics.get("title"))}</h2>'
                     f"{_course_body(course, figures.period_from, figures.period_to, prefix, with_learners=False)}"
                     "</section>")
    if not figures.courses:
        parts.append('<p class="empty">You own no courses yet.</p>')
    return "".join(parts)


def report_title(figures: ReportFigures) -> str:
    if figures.report_type == ReportType.COURSE and figures.courses:
        return f"{TITLES[ReportType.COURSE]}: {figures.courses[0].analytics.get('title') or ''}"
    if figures.report_type == ReportType.INSTRUCTOR and figures.scheduled:
        return "Weekly digest of your courses"
    if figures.report_type == ReportType.PLATFORM and figures.scheduled:
        return "Daily platform report"
    return TITLES[figures.report_type]


def render_html(figures: ReportFigures) -> str:
    title = report_title(figures)
    if figures.report_type == ReportType.COURSE:
        if len(figures.courses) != 1:
            raise ValueError("a course report has exactly one course")
        body = _course_body(figures.courses[0], figures.period_from, figures.period_to, "", with_learners=True)
    elif figures.report_type == ReportType.INSTRUCTOR:
        body = _instructor_body(figures)
    else:
        body = _platform_body(figures.platform, figures.period_from, figures.period_to)
    period = f"{figures.period_from.isoformat()} to {figures.period_to.isoformat()}"
    generated = figures.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f'<body><main><header><h1 id="title">{_e(title)}</h1>'
        f'<p class="period" id="period">Period: {_e(period)} · generated {_e(generated)}</p></header>'
        f"{body}</main></body></html>\n"
    )


# --- CSV ----------------------------------------------------------------------------------------------------


def safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate (``=``, ``+``, ``-``, ``@``, tab, CR first) is made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return "" if value is None else value


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return out.getvalue()


def render_csv(figures: ReportFigures) -> str:
    if figures.report_type == ReportType.COURSE:
        if len(figures.courses) != 1:
            raise ValueError("a course report has exactly one course")
        return _csv(COURSE_CSV_HEADER, ([str(x.get("user_id") or ""), x.get("full_name"), x.get("status"),
                                         x.get("percent_complete"), x.get("time_spent_seconds"),
                                         x.get("last_activity_at")] for x in figures.courses[0].learners))
    if figures.report_type == ReportType.INSTRUCTOR:
        def course_row(item: Mapping[str, Any]) -> list[Any]:
            enrollments = item.get("enrollments") or {}
            active = item.get("active_learners") or {}
            return [str(item.get("course_id") or ""), item.get("title"), enrollments.get("total"),
                    enrollments.get("active"), enrollments.get("completed"), enrollments.get("dropped"),
                    item.get("completion_rate"), item.get("average_progress"), item.get("median_days_to_complete"),
                    active.get("last_7_days"), active.get("last_30_days")]
        # The period's figures of each own course (the overview's are all-time and lack the median).
        return _csv(INSTRUCTOR_CSV_HEADER, (course_row(c.analytics) for c in figures.courses))
    per_day = platform_days(figures.platform, figures.period_from, figures.period_to)
    days = days_between(figures.period_from, figures.period_to)
    return _csv(PLATFORM_CSV_HEADER, ([d.isoformat(), per_day["enrolled"][i], per_day["completed"][i],
                                       per_day["active_users"][i]] for i, d in enumerate(days)))
