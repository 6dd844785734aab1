"""The analytics journey over HTTP through the local cloud: learners enroll, progress, complete and drop through
the LMS API; their events reach the analytics consumer through the broker; every analytics route then shows the
figures the domain rules define; an at-risk learner is nudged and mailed; a report is built, downloaded (HTML
and CSV) and mailed; and the seeded learners show in the seeded instructor's course analytics."""

from __future__ import annotations

import csv
import io
import uuid

import httpx
import pytest
from localcloud.cloud import LocalCloud
from localcloud.mailbox import wait_for_email

from tests.e2e.ai.conftest import wait_for
from tests.e2e.analytics.conftest import EVENT_TIMEOUT, Cohort, progress, wait_for_figures
from tests.e2e.support import Account, login, register

pytestmark = pytest.mark.e2e

A = "/api/v1/analytics"


def test_course_analytics_follow_the_domain_definitions(analytics: httpx.Client, cohort: Cohort) -> None:
    owner = cohort.course.owner
    body = analytics.get(f"{A}/courses/{cohort.course.id}", headers=owner.headers).json()
    assert body["course_id"] == cohort.course.id and body["title"] == "Ceramics at home"
    # Completion rate: completed ÷ all enrollments of the period, the dropped one included.
    assert body["completion_rate"] == pytest.approx(0.2)
    # Average progress: the mean of the learners' course percent (completed assets ÷ all assets).
    assert body["average_progress"] == pytest.approx((100 + 75 + 75 + 25 + 0) / 5)
    assert [(m["title"], m["order_index"], m["started"], m["completed"]) for m in body["funnel"]] == [
        ("Clay", 0, 4, 3), ("Wheel", 1, 3, 1)]
    assert body["active_learners"] == {"last_7_days": 4, "last_30_days": 4}
    [today] = [d for d in body["enrollments_over_time"] if d["enrolled"]]
    assert (today["enrolled"], today["completed"]) == (5, 1)
    assert body["median_days_to_complete"] is not None and body["median_days_to_complete"] < 1

    learners = analytics.get(f"{A}/courses/{cohort.course.id}/learners", params={"limit": 2},
                             headers=owner.headers).json()
    assert learners["total"] == 5 and len(learners["items"]) == 2 and learners["limit"] == 2
    everyone = analytics.get(f"{A}/courses/{cohort.course.id}/learners", headers=owner.headers).json()["items"]
    percents = {item["user_id"]: item["percent_complete"] for item in everyone}
    assert percents == {cohort.learners[n].id: p for n, p in (("A", 100), ("B", 75), ("C", 75), ("D", 25),
                                                               ("E", 0))}
    assert {i["user_id"]: i["status"] for i in everyone}[cohort.learners["E"].id] == "dropped"


def test_learner_instructor_and_platform_views(analytics: httpx.Client, cohort: Cohort, admin: Account) -> None:
    mine = analytics.get(f"{A}/me/progress", headers=cohort.learners["A"].headers).json()
    assert (mine["enrolled"], mine["completed"], mine["streak_days"]) == (1, 1, 1)
    [course] = mine["courses"]
    assert course["course_id"] == cohort.course.id and course["percent_complete"] == 100
    assert course["time_spent_seconds"] == 4 * 120 and course.get("percentile") is None  # fewer than 10 learners

    overview = analytics.get(f"{A}/instructors/me", headers=cohort.course.owner.headers).json()
    [own] = overview["items"]
    assert own["course_id"] == cohort.course.id and own["completion_rate"] == pytest.approx(0.2)

    platform = analytics.get(f"{A}/platform", headers=admin.headers).json()
    assert platform["dau"] >= 4 and platform["mau"] >= platform["wau"] >= platform["dau"]
    assert any(c["course_id"] == cohort.course.id for c in platform["top_courses"])


def test_at_risk_learner_is_nudged_by_mail_once_a_day_and_comes_back(
        http: httpx.Client, analytics: httpx.Client, cohort: Cohort, cloud: LocalCloud) -> None:
    owner, d = cohort.course.owner, cohort.learners["D"]
    at_risk = analytics.get(f"{A}/courses/{cohort.course.id}/at-risk", headers=owner.headers).json()
    [item] = at_risk["items"]
    assert item["user_id"] == d.id and [r["code"] for r in item["reasons"]] == ["behind_cohort"]

    message = "You were doing well with the clay: the wheel is next!"
    sent = analytics.post(f"{A}/courses/{cohort.course.id}/at-risk/nudge",
                          json={"user_ids": [d.id, cohort.learners["E"].id, str(uuid.uuid4())],
                                "message": message}, headers=owner.headers)
    assert sent.status_code == 202, sent.text
    assert [n["user_id"] for n in sent.json()["nudged"]] == [d.id]
    assert {s["reason"] for s in sent.json()["skipped"]} == {"not_enrolled"}
    again = analytics.post(f"{A}/courses/{cohort.course.id}/at-risk/nudge",
                           json={"user_ids": [d.id], "message": message}, headers=owner.headers).json()
    assert again["nudged"] == [] and again["skipped"] == [{"user_id": d.id, "reason": "already_nudged_today"}]

    mail = wait_for_email(cloud.endpoints()["aws"], d.email, match=lambda m: message in m.text, timeout=EVENT_TIMEOUT)
    assert "Ceramics at home" in mail.subject + mail.text

    progress(http, d, cohort.asset_ids[1])
    back = wait_for_figures(analytics, f"{A}/courses/{cohort.course.id}/at-risk", owner,
                            lambda b: b["nudges"]["returned_within_7_days"] == 1, "the nudge's outcome")
    assert back["nudges"]["sent"] == 1


def test_report_is_built_downloaded_and_mailed(analytics: httpx.Client, cohort: Cohort, cloud: LocalCloud,
                                               http: httpx.Client) -> None:
    owner = cohort.course.owner
    for fmt in ("html", "csv"):
        requested = analytics.post(f"{A}/reports", json={"type": "course", "course_id": cohort.course.id,
                                                         "format": fmt}, headers=owner.headers)
        assert requested.status_code == 202, requested.text
        report_id = requested.json()["report_id"]
        ready = wait_for_figures(analytics, f"{A}/reports/{report_id}", owner,
                                 lambda r: r["status"] in ("ready", "failed"), f"the {fmt} report")
        assert ready["status"] == "ready", ready
        download = httpx.get(ready["download_url"], timeout=30)
        assert download.status_code == 200
        if fmt == "html":
            page = download.text
            assert "Ceramics at home" in page and page.count("<svg") >= 3
            assert "<script" not in page.lower()
        else:
            rows = list(csv.DictReader(io.StringIO(download.text)))
            assert {r["user_id"] for r in rows} == {a.id for a in cohort.learners.values()}
        mail = wait_for_email(cloud.endpoints()["aws"], owner.email,
                              match=lambda m, rid=report_id: any(rid in link for link in m.links),
                              timeout=EVENT_TIMEOUT)
        assert "report" in mail.subject.lower()
        other = register(http, "instructor")
        assert analytics.get(f"{A}/reports/{report_id}", headers=other.headers).status_code == 404
    listed = analytics.get(f"{A}/reports", headers=owner.headers).json()
    assert listed["total"] == 2 and {r["format"] for r in listed["items"]} == {"html", "csv"}


def test_seeded_learners_show_in_the_seeded_instructors_course_analytics(
        http: httpx.Client, analytics: httpx.Client) -> None:
    from smartcourse_lms.seed import DEMO_LEARNING, INSTRUCTOR_PASSWORD

    tokens = login(http, "instructor2@smartcourse.local", INSTRUCTOR_PASSWORD)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    def seeded() -> dict | None:
        items = analytics.get(f"{A}/instructors/me", headers=headers).json().get("items", [])
        found = [i for i in items if i["title"] == "Data Analysis with SQL"]
        return found[0] if found and found[0]["enrollments"]["total"] == len(DEMO_LEARNING) else None

    course = wait_for(seeded, EVENT_TIMEOUT, "the seeded learners in the seeded course's analytics")
    body = analytics.get(f"{A}/courses/{course['course_id']}", headers=headers).json()
    assert body["funnel"][0]["started"] == 4 and body["active_learners"]["last_7_days"] == 4
