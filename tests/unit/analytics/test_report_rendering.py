"""Report rendering, pure: figures in the analytics routes' shapes → one self-contained HTML document (no
script, nothing fetched, user text escaped, one mark per non-zero figure) or CSV (header row, no formulas)."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from smartcourse_analytics.domain import ReportType
from smartcourse_analytics.report_rendering import (
    COURSE_CSV_HEADER,
    INSTRUCTOR_CSV_HEADER,
    PLATFORM_CSV_HEADER,
    CourseFigures,
    ReportFigures,
    progress_bins,
    render_csv,
    render_html,
    safe_cell,
)

START, END = date(2026, 11, 1), date(2026, 11, 14)
HOSTILE_TITLE = 'Python <script>alert("t")</script> & $x$ "quotes"'
HOSTILE_MODULE = "<img src=https://evil.example/x.png onerror=alert(1)>"
HOSTILE_NAME = "<b>Mallory</b> & co"
SVG_NS = "http://www.w3.org/2000/svg"


def course_analytics(title: str = HOSTILE_TITLE) -> dict[str, Any]:
    days = [START + timedelta(days=i) for i in range((END - START).days + 1)]
    return {
        "course_id": str(uuid.uuid4()), "title": title, "period": {"from": START.isoformat(), "to": END.isoformat()},
        "enrollments": {"total": 9, "active": 5, "completed": 3, "dropped": 1},
        "completion_rate": 0.3333, "average_progress": 47.25, "median_days_to_complete": 3.5,
        "active_learners": {"last_7_days": 4, "last_30_days": 7},
        "enrollments_over_time": [{"date": d.isoformat(), "enrolled": i % 3, "completed": 1 if i in (4, 9) else 0}
                                  for i, d in enumerate(days)],
        "funnel": [
            {"module_id": str(uuid.uuid4()), "title": "Basics", "order_index": 0, "started": 8, "completed": 5},
            {"module_id": str(uuid.uuid4()), "title": HOSTILE_MODULE, "order_index": 1, "started": 4, "completed": 0},
        ],
    }


def learners() -> list[dict[str, Any]]:
    rows = [(HOSTILE_NAME, 100.0), ("=HYPERLINK(\"https://evil.example\")", 55.0), ("+1 Dave", 5.0),
            ("-Eve", 12.5), ("@Sam", 99.9), ("Zoe", 0.0)]
    return [{"user_id": str(uuid.uuid4()), "full_name": name, "status": "active", "percent_complete": pct,
             "time_spent_seconds": 600 + i, "last_activity_at": "2026-11-10T10:00:00+00:00"}
            for i, (name, pct) in enumerate(rows)]


def course_report(**extra: Any) -> ReportFigures:
    return ReportFigures(ReportType.COURSE, START, END, datetime(2026, 11, 15, 6, 0, tzinfo=UTC),
                         courses=[CourseFigures(course_analytics(), learners())], **extra)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, as the browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(document: str) -> Elements:
    parser = Elements()
    parser.feed(document)
    return parser


def marks(document: str, chart_id: str) -> list[dict[str, str | None]]:
    svg = re.search(rf'<svg id="{chart_id}".*?</svg>', document, re.DOTALL)
    assert svg is not None, chart_id
    return [a for t, a in parse(svg.group(0)).tags if t == "g" and a.get("class") == "mark"]


def test_the_html_report_is_self_contained_scriptless_and_escapes_every_user_string() -> None:
    document = render_html(course_report())
    parsed = parse(document)
    tags = {t for t, _ in parsed.tags}
    assert "script" not in tags and "img" not in tags and "link" not in tags and "iframe" not in tags
    assert not any(k.startswith("on") for _, attrs in parsed.tags for k in attrs)
    # Nothing refers outside the document: no src, every href is a fragment (a glyph or marker of a chart).
    assert not any("src" in attrs for _, attrs in parsed.tags)
    assert all(str(attrs["href"]).startswith("#") for _, attrs in parsed.tags if "href" in attrs)
    for hostile in (HOSTILE_TITLE, HOSTILE_MODULE, HOSTILE_NAME):
        assert hostile not in document  # only ever escaped
    text = "".join(parsed.text)
    assert HOSTILE_TITLE in text and HOSTILE_NAME in text  # ... and shown as the text it is
    assert "<?xml" not in document and "<!DOCTYPE svg" not in document and "xlink:" not in document
    csp = next(a for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in str(csp["content"])


def test_the_only_url_in_a_report_is_the_svg_namespace() -> None:
    analytics = course_analytics("Baking")
    analytics["funnel"][1]["title"] = "Ovens"
    benign = ReportFigures(ReportType.COURSE, START, END, datetime.now(UTC),
                           courses=[CourseFigures(analytics, learners()[2:])])
    assert set(re.findall(r"https?://[^\s\"'<>)]*", render_html(benign))) == {SVG_NS}


def test_the_html_report_has_title_period_headline_figures_and_four_labelled_charts() -> None:
    document = render_html(course_report())
    text = " ".join(parse(document).text)
    assert f"Course report: {HOSTILE_TITLE}" in text
    assert "2026-11-01 to 2026-11-14" in text
    for label, value in (("Enrollments", "9"), ("Completed", "3"), ("Dropped", "1"), ("Completion rate", "33.3 %"),
                         ("Average progress", "47.2 %"), ("Median days to complete", "3.5")):
        assert re.search(rf"<th scope=\"row\">{label}</th><td class=\"num\">{re.escape(value)}</td>", document), label
    svgs = [a for t, a in parse(document).tags if t == "svg"]
    assert [a["id"] for a in svgs] == ["chart-enrollments", "chart-funnel", "chart-progress", "chart-active"]
    assert all(a.get("role") == "img" and a.get("aria-label") for a in svgs)
    ids = [a["id"] for _, a in parse(document).tags if a.get("id")]
    assert len(ids) == len(set(ids))  # four charts in one document, no id twice


def test_each_chart_has_one_mark_per_non_zero_figure_with_its_value() -> None:
    figures = course_report()
    document = render_html(figures)
    analytics, people = figures.courses[0].analytics, figures.courses[0].learners
    over_time = analytics["enrollments_over_time"]
    expected = sorted([("Enrolled", d["date"], d["enrolled"]) for d in over_time if d["enrolled"]]
                      + [("Completed", d["date"], d["completed"]) for d in over_time if d["completed"]])
    got = sorted((m["data-series"], m["data-label"], int(str(m["data-value"])))
                 for m in marks(document, "chart-enrollments"))
    assert got == expected
    funnel = {(m["data-series"], m["data-label"], int(str(m["data-value"]))) for m in marks(document, "chart-funnel")}
    assert funnel == {("Started", "Basics", 8), ("Completed", "Basics", 5), ("Started", HOSTILE_MODULE, 4)}
    bins = progress_bins(p["percent_complete"] for p in people)
    assert [int(str(m["data-value"])) for m in marks(document, "chart-progress")] == [b for b in bins if b]
    assert [int(str(m["data-value"])) for m in marks(document, "chart-active")] == [4, 7]


def test_progress_bands_put_100_percent_in_the_last_band() -> None:
    assert progress_bins([0, 9.99, 10, 55, 99.9, 100]) == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]


def test_an_empty_course_renders_with_no_marks() -> None:
    empty = {**course_analytics("Empty"), "enrollments_over_time": [], "funnel": [],
             "active_learners": {"last_7_days": 0, "last_30_days": 0}}
    document = render_html(ReportFigures(ReportType.COURSE, START, END, datetime.now(UTC),
                                         courses=[CourseFigures(empty, [])]))
    for chart in ("chart-enrollments", "chart-funnel", "chart-progress", "chart-active"):
        assert marks(document, chart) == []


def test_an_instructor_report_has_one_section_per_course_with_its_own_charts() -> None:
    a, b = course_analytics("Course A"), course_analytics("Course B")
    overview = [{"course_id": x["course_id"], "title": x["title"], "status": "published",
                 "enrollments": x["enrollments"], "completion_rate": x["completion_rate"],
                 "average_progress": x["average_progress"], "active_learners": x["active_learners"]} for x in (a, b)]
    figures = ReportFigures(ReportType.INSTRUCTOR, START, END, datetime.now(UTC),
                            courses=[CourseFigures(a, []), CourseFigures(b, [])], overview=overview, scheduled=True)
    document = render_html(figures)
    assert document.count('class="course"') == 2
    assert 'id="course-1-chart-funnel"' in document and 'id="course-2-chart-funnel"' in document
    assert "Weekly digest" in document
    rows = list(csv.reader(io.StringIO(render_csv(figures))))
    assert tuple(rows[0]) == INSTRUCTOR_CSV_HEADER
    assert [r[1] for r in rows[1:]] == ["Course A", "Course B"]
    # Each row is the course's figures of the report's period, the median included.
    by_name = dict(zip(INSTRUCTOR_CSV_HEADER, rows[1], strict=True))
    assert by_name["median_days_to_complete"] == str(a["median_days_to_complete"])
    assert by_name["completion_rate"] == str(a["completion_rate"])


def test_a_platform_report_draws_enrollments_and_daily_active_users() -> None:
    platform = {"period": {"from": START.isoformat(), "to": END.isoformat()},
                "users": {"total": 40, "by_role": {"student": 35, "instructor": 4, "admin": 1}},
                "dau": 3, "wau": 11, "mau": 20,
                "enrollments_over_time": [{"date": "2026-11-02", "enrolled": 5, "completed": 2}],
                "active_users_per_day": [{"date": "2026-11-02", "active_users": 6},
                                         {"date": "2026-11-03", "active_users": 4}],
                "top_courses": [{"course_id": str(uuid.uuid4()), "title": HOSTILE_TITLE, "enrollments": 5,
                                 "completions": 2, "completion_rate": 0.4}]}
    figures = ReportFigures(ReportType.PLATFORM, START, END, datetime.now(UTC), platform=platform)
    document = render_html(figures)
    assert [int(str(m["data-value"])) for m in marks(document, "chart-active")] == [6, 4]
    assert sorted(int(str(m["data-value"])) for m in marks(document, "chart-enrollments")) == [2, 5]
    assert HOSTILE_TITLE not in document and "Monthly active users (MAU)" in document
    rows = list(csv.reader(io.StringIO(render_csv(figures))))
    assert tuple(rows[0]) == PLATFORM_CSV_HEADER
    assert len(rows) == 1 + 14 and rows[2] == ["2026-11-02", "5", "2", "6"]


def test_the_course_csv_has_a_header_one_row_per_learner_and_no_formula() -> None:
    figures = course_report()
    rows = list(csv.reader(io.StringIO(render_csv(figures))))
    assert tuple(rows[0]) == COURSE_CSV_HEADER
    assert [r[0] for r in rows[1:]] == [p["user_id"] for p in figures.courses[0].learners]
    names = [r[1] for r in rows[1:]]
    assert names[0] == HOSTILE_NAME
    assert names[1:5] == ["'=HYPERLINK(\"https://evil.example\")", "'+1 Dave", "'-Eve", "'@Sam"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert rows[1][3:5] == ["100.0", "600"]


@pytest.mark.parametrize("value, expected", [("=1+1", "'=1+1"), ("\tx", "'\tx"), ("plain", "plain"), (-3, -3),
                                             (None, "")])
def test_safe_cell(value: Any, expected: Any) -> None:
    assert safe_cell(value) == expected
