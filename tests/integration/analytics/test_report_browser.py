"""The HTML report in a real browser: Debian's headless Chromium, driven by Selenium through the system's
chromedriver (Selenium Manager never downloads anything). Opened from a file, the report shows its four charts
with one bar per non-zero figure and bar lengths proportional to the figures, shows its headline figures, logs
no console error and requests nothing but itself. A screenshot is kept in ``.artifacts/report-browser.png``.

The browser is installed by ``make install`` (``apt-get install chromium chromium-driver`` when missing); when it
is not there, this test fails and says so: it is never skipped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from smartcourse_analytics.domain import ReportType
from smartcourse_analytics.report_rendering import CourseFigures, ReportFigures, progress_bins, render_html

from tests.support.browser import headless_chromium

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
ARTIFACT = ROOT / ".artifacts" / "report-browser.png"
START, END = date(2026, 11, 1), date(2026, 11, 21)


def known_course() -> ReportFigures:
    days = [START + timedelta(days=i) for i in range((END - START).days + 1)]
    analytics = {
        "course_id": str(uuid.uuid4()), "title": "Sourdough <basics> & more",
        "period": {"from": START.isoformat(), "to": END.isoformat()},
        "enrollments": {"total": 27, "active": 15, "completed": 9, "dropped": 3},
        "completion_rate": 0.3333, "average_progress": 58.74, "median_days_to_complete": 6.5,
        "active_learners": {"last_7_days": 11, "last_30_days": 19},
        "enrollments_over_time": [{"date": d.isoformat(), "enrolled": (i * 5) % 4, "completed": 2 if i % 6 == 5 else 0}
                                  for i, d in enumerate(days)],
        "funnel": [{"module_id": str(uuid.uuid4()), "title": title, "order_index": i, "started": s, "completed": c}
                   for i, (title, s, c) in enumerate([("Starter", 24, 20), ("Kneading", 18, 12),
                                                      ("Baking <oven>", 10, 9), ("Not started yet", 0, 0)])],
    }
    percents = [0, 3, 12, 18, 25, 33, 41, 47, 52, 58, 64, 66, 71, 77, 85, 91, 100, 100, 100, 100, 100, 100, 100, 100]
    learners = [{"user_id": str(uuid.uuid4()), "full_name": f"Learner {i}", "status": "active",
                 "percent_complete": float(p), "time_spent_seconds": 60 * i, "last_activity_at": None}
                for i, p in enumerate(percents)]
    return ReportFigures(ReportType.COURSE, START, END, datetime(2026, 11, 22, 7, 0, tzinfo=UTC),
                         courses=[CourseFigures(analytics, learners)])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Console messages and every network request the page makes, read back after the load.
    with headless_chromium(window=(1200, 900), logging_prefs={"browser": "ALL", "performance": "ALL"},
                           profile_prefix="report-browser-") as driver:
        yield driver


MARKS_JS = """
const out = {};
for (const svg of document.querySelectorAll('svg.chart')) {
  const box = svg.getBoundingClientRect();
  out[svg.id] = {width: box.width, height: box.height, marks: [...svg.querySelectorAll('g.mark')].map(g => {
    const b = g.querySelector('path').getBBox();
    return {series: g.dataset.series, label: g.dataset.label, value: Number(g.dataset.value),
            width: b.width, height: b.height};
  })};
}
return out;
"""


def proportional(marks: list[dict[str, Any]], size: str) -> bool:
    """Every bar's length per unit of its value is the same (within rounding): lengths show the figures."""
    ratios = [m[size] / m["value"] for m in marks]
    return max(ratios) - min(ratios) <= 0.02 * max(ratios)


def test_the_html_report_shows_its_charts_in_chromium(browser: Any, tmp_path: Path) -> None:
    figures = known_course()
    page = tmp_path / "report.html"
    page.write_text(render_html(figures), encoding="utf-8")
    url = page.as_uri()
    browser.get_log("browser")  # start from an empty console
    browser.get_log("performance")
    browser.get(url)

    assert browser.title == "Course report: Sourdough <basics> & more"
    charts: dict[str, Any] = browser.execute_script(MARKS_JS)
    assert set(charts) == {"chart-enrollments", "chart-funnel", "chart-progress", "chart-active"}
    assert all(c["width"] > 400 and c["height"] > 150 for c in charts.values())  # laid out, visible

    analytics = figures.courses[0].analytics
    over_time = analytics["enrollments_over_time"]
    expected = sorted([("Enrolled", d["date"], d["enrolled"]) for d in over_time if d["enrolled"]]
                      + [("Completed", d["date"], d["completed"]) for d in over_time if d["completed"]])
    marks = charts["chart-enrollments"]["marks"]
    assert sorted((m["series"], m["label"], m["value"]) for m in marks) == expected
    assert proportional(marks, "height")

    funnel = charts["chart-funnel"]["marks"]
    assert sorted((m["series"], m["label"], m["value"]) for m in funnel) == sorted(
        [(s, f["title"], f[key]) for f in analytics["funnel"] for s, key in (("Started", "started"),
                                                                              ("Completed", "completed")) if f[key]])
    assert proportional(funnel, "width")  # horizontal bars

    bins = progress_bins(x["percent_complete"] for x in figures.courses[0].learners)
    progress = charts["chart-progress"]["marks"]
    assert [m["value"] for m in progress] == [b for b in bins if b]
    assert proportional(progress, "height")

    active = charts["chart-active"]["marks"]
    assert [m["value"] for m in active] == [11, 19] and proportional(active, "height")

    text = browser.find_element("tag name", "body").text
    for figure in ("Enrollments\t27", "Completion rate\t33.3 %", "Average progress\t58.7 %",
                   "Median days to complete\t6.5", "Active learners, last 7 days\t11"):
        label, value = figure.split("\t")
        assert f"{label} {value}" in text or f"{label}\n{value}" in text, figure
    assert "Period: 2026-11-01 to 2026-11-21" in text

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    events = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    requested = {e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"}
    assert requested == {url}  # the page itself, and nothing else
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0

    ARTIFACT.parent.mkdir(exist_ok=True)
    (ARTIFACT.parent / ".gitignore").write_text("*\n")  # artifacts are kept by CI, never committed
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1200, min(int(height) + 40, 8000))
    assert browser.save_screenshot(str(ARTIFACT))
    assert ARTIFACT.stat().st_size > 10_000
    print(f"report screenshot: {ARTIFACT}")
