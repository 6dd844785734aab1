"""Reports end to end in process, against a real analytics database (fed through the consumer's own code) and the
AWS emulator's SQS and S3: request → queue message → the deployed builder → S3 object → ready with a presigned
download that works → ``report.ready`` in the outbox; who may request which report; other people's reports; the
failure path; redelivery; and the two schedules (one report per owner per period, however often they fire)."""

from __future__ import annotations

import csv
import importlib
import io
import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.integration.analytics.conftest import Feed, Who, admin, call, instructor, student
from tests.support.analytics import T0, Course, World, days
from tests.support.apigw import body_of

pytestmark = pytest.mark.integration

PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}
MAX_RECEIVES = 3


@dataclass
class Data:
    inst_a: uuid.UUID
    inst_b: uuid.UUID
    inst_c: uuid.UUID  # owns only an archived course
    admin_id: uuid.UUID
    course_a: Course
    course_b: Course
    learners_a: dict[uuid.UUID, str]
    learners_b: dict[uuid.UUID, str]

    @property
    def owner_a(self) -> Who:
        return self.inst_a, "instructor"

    @property
    def owner_b(self) -> Who:
        return self.inst_b, "instructor"

    @property
    def the_admin(self) -> Who:
        return self.admin_id, "admin"


@pytest.fixture(scope="module")
def data(feed: Feed) -> Data:
    world = World()
    inst_a = world.user("Ada Instructor", ("instructor",))
    inst_b = world.user("Bert Instructor", ("instructor",))
    inst_c = world.user("Cleo Instructor", ("instructor",))
    admin_id = world.user("Root Admin", ("admin",))
    course_a = world.course(inst_a, 'Baking <bread> & "rolls"', (2, 2))
    course_b = world.course(inst_b, "Secret course B", (1,))
    course_c = world.course(inst_c, "Archived course C", (1,))
    world.add("course.archived", {"course_id": str(course_c.course_id)}, T0 + days(1))
    learners_a: dict[uuid.UUID, str] = {}
    for i, (name, assets_done) in enumerate([("Alice Alpha", 4), ("Bob <b>Beta</b>", 2), ("=Carol Gamma", 1),
                                             ("Dan Delta", 0)]):
        user = world.user(name)
        learners_a[user] = name
        enrollment = world.enroll(course_a, user, T0 + days(i))
        for asset in range(assets_done):
            world.complete_asset(course_a, enrollment, user, asset, T0 + days(i) + timedelta(hours=asset + 1))
        if assets_done == 4:
            world.complete(course_a, enrollment, user, T0 + days(i + 1))
    learners_b: dict[uuid.UUID, str] = {}
    for i, name in enumerate(["Bella Bravo", "Boris Bravo"]):
        user = world.user(name)
        learners_b[user] = name
        enrollment = world.enroll(course_b, user, T0 + days(i))
        world.complete_asset(course_b, enrollment, user, 0, T0 + days(i) + timedelta(hours=2))
    assert feed(world.events) == len(world.events)
    return Data(inst_a, inst_b, inst_c, admin_id, course_a, course_b, learners_a, learners_b)


@pytest.fixture(scope="module")
def aws(moto: Any) -> dict[str, Any]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")
    bucket = f"reports-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    return {"s3": s3, "sqs": sqs, "bucket": bucket}


def reset_clients() -> None:
    from smartcourse import aws_clients, storage
    from smartcourse.settings import get_settings
    from smartcourse_analytics.reports import get_reports

    get_settings.cache_clear()
    get_reports.cache_clear()
    storage.reset_client()
    aws_clients.reset_clients()


@pytest.fixture(autouse=True)
def env(analytics_env: str, aws: dict[str, Any], moto: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A queue of its own per test: what a test finds in it, its own requests put there.
    aws["queue_url"] = aws["sqs"].create_queue(QueueName=f"analytics-reports-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("REPORTS_BUCKET", aws["bucket"])
    monkeypatch.setenv("ANALYTICS_REPORT_QUEUE_URL", aws["queue_url"])
    monkeypatch.setenv("TRIGGER_QUEUE_MAX_RECEIVES", str(MAX_RECEIVES))
    reset_clients()
    yield
    reset_clients()


# --- helpers ------------------------------------------------------------------------------------------------------


def receive(aws: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message now in the queue (received once: hidden for the rest of the test; the purge clears them)."""
    out: list[dict[str, Any]] = []
    while True:
        got = aws["sqs"].receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10,
                                         VisibilityTimeout=600, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return out
        out.extend(got)


def sqs_event(messages: list[dict[str, Any]], receives: int | None = None) -> dict[str, Any]:
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {"ApproximateReceiveCount": str(receives or m["Attributes"]["ApproximateReceiveCount"]),
                       "SentTimestamp": "0", "SenderId": "AIDATEST", "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:analytics-reports", "awsRegion": "us-east-1",
    } for m in messages]}


def builder() -> Any:
    from smartcourse_analytics.catalogue import function

    return importlib.import_module(function("analytics-build-report").module).handler


def build(messages: list[dict[str, Any]], receives: int | None = None) -> list[str]:
    """Run the deployed builder on ``messages`` as the event source mapping would; the failed message ids."""
    answer = builder()(sqs_event(messages, receives), None)
    return [f["itemIdentifier"] for f in answer["batchItemFailures"]]


def request(who: Who, **body: Any) -> dict[str, Any]:
    return call("reports-create", who, body=body)


def get(who: Who, report_id: str) -> dict[str, Any]:
    return call("reports-get", who, path_params={"report_id": report_id})


def download(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the emulator's presigned URL
        return str(response.headers["Content-Type"]), response.read()


def outbox(db: Engine, report_id: str) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(text("SELECT event_type, envelope FROM outbox WHERE aggregate_id = :r ORDER BY id"),
                            {"r": uuid.UUID(report_id)}).all()
    return [{"event_type": r[0], **r[1]["payload"]} for r in rows]


def report_row(db: Engine, report_id: str) -> Any:
    with db.connect() as conn:
        return conn.execute(text("SELECT * FROM reports WHERE report_id = :r"), {"r": uuid.UUID(report_id)}).one()


def queued_and_built(who: Who, aws: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = request(who, **body)
    assert response["statusCode"] == 202, response
    [message] = receive(aws)
    assert build([message]) == []
    return body_of(get(who, body_of(response)["report_id"]))


# --- request → build → download → event -----------------------------------------------------------------------


def test_a_course_html_report_is_queued_built_stored_downloadable_and_announced(
        data: Data, aws: dict[str, Any], analytics_db: Engine) -> None:
    response = request(data.owner_a, type="course", course_id=str(data.course_a.course_id), format="html", **PERIOD)
    assert response["statusCode"] == 202
    accepted = body_of(response)
    assert accepted["status"] == "queued"
    report_id = accepted["report_id"]
    [message] = receive(aws)
    assert json.loads(message["Body"]) == {"report_id": report_id}
    queued = body_of(get(data.owner_a, report_id))
    assert queued["status"] == "queued" and queued.get("download_url") is None
    assert (queued["type"], queued["format"], queued["course_id"]) == ("course", "html", str(data.course_a.course_id))

    assert build([message]) == []
    ready = body_of(get(data.owner_a, report_id))
    assert ready["status"] == "ready" and ready["ready_at"] and ready.get("error") is None
    assert ready["period"] == PERIOD
    content_type, body = download(ready["download_url"])
    assert content_type == "text/html; charset=utf-8"
    html = body.decode()
    assert "Baking &lt;bread&gt; &amp; &quot;rolls&quot;" in html and "<bread>" not in html
    assert "Alice Alpha" in html and "Bob &lt;b&gt;Beta&lt;/b&gt;" in html
    assert not any(name in html for name in data.learners_b.values())  # no other course's learner
    for chart in ("chart-enrollments", "chart-funnel", "chart-progress", "chart-active"):
        assert f'<svg id="{chart}"' in html
    # Four enrollments on four days, one completion: one mark each; the funnel's two modules were started.
    assert html.count('data-series="Enrolled"') == 4 and html.count('data-series="Completed" data-label="2026-') == 1
    assert "<script" not in html

    key = f"reports/{data.inst_a}/{report_id}.html"
    head = aws["s3"].head_object(Bucket=aws["bucket"], Key=key)
    assert head["ContentType"] == "text/html; charset=utf-8"
    [event] = outbox(analytics_db, report_id)
    assert event == {"event_type": "report.ready", "report_id": report_id, "owner_user_id": str(data.inst_a),
                     "report_type": "course", "course_id": str(data.course_a.course_id),
                     "period_from": PERIOD["from"], "period_to": PERIOD["to"], "download_key": key,
                     "format": "html", "scheduled": False}
    # Every GET presigns a link of its own, which works as well.
    assert download(body_of(get(data.owner_a, report_id))["download_url"])[1] == body


def test_a_course_csv_report_lists_that_course_learners_only_without_formulas(data: Data, aws: dict[str, Any]) -> None:
    ready = queued_and_built(data.the_admin, aws, type="course", course_id=str(data.course_a.course_id),
                             format="csv", **PERIOD)
    assert ready["status"] == "ready"
    content_type, body = download(ready["download_url"])
    assert content_type == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["user_id", "full_name", "status", "percent_complete", "time_spent_seconds", "last_activity_at"]
    assert {uuid.UUID(r[0]) for r in rows[1:]} == set(data.learners_a)
    by_id = {uuid.UUID(r[0]): r for r in rows[1:]}
    carol = next(u for u, n in data.learners_a.items() if n.startswith("="))
    assert by_id[carol][1] == "'=Carol Gamma"
    alice = next(u for u, n in data.learners_a.items() if n == "Alice Alpha")
    assert (by_id[alice][2], float(by_id[alice][3])) == ("completed", 100.0)


def test_an_instructor_report_has_a_section_per_own_course_only(data: Data, aws: dict[str, Any]) -> None:
    ready = queued_and_built(data.owner_a, aws, type="instructor", format="html", **PERIOD)
    html = download(ready["download_url"])[1].decode()
    assert html.count('<section class="course"') == 1
    assert "Baking &lt;bread&gt;" in html and "Secret course B" not in html
    assert 'id="course-1-chart-funnel"' in html
    assert not any(name in html for name in [*data.learners_a.values(), *data.learners_b.values()])


def test_a_platform_report_shows_the_platform(data: Data, aws: dict[str, Any]) -> None:
    ready = queued_and_built(data.the_admin, aws, type="platform", format="html", **PERIOD)
    html = download(ready["download_url"])[1].decode()
    assert '<svg id="chart-enrollments"' in html and '<svg id="chart-active"' in html
    # Course A's learners enrolled on four days, course B's on two of them: one mark per day with any.
    enrollment_days = {T0.date() + timedelta(days=i) for i in (*range(4), *range(2))}
    assert html.count('data-series="Enrolled"') == len(enrollment_days)
    assert "Secret course B" in html and "Baking &lt;bread&gt;" in html  # top courses


# --- who may request what --------------------------------------------------------------------------------------


def test_who_may_request_which_report(data: Data, aws: dict[str, Any]) -> None:
    course_a = str(data.course_a.course_id)
    cases: list[tuple[Who, dict[str, Any], int]] = [
        (data.owner_a, {"type": "course", "course_id": course_a}, 202),
        (data.the_admin, {"type": "course", "course_id": course_a}, 202),
        (data.owner_b, {"type": "course", "course_id": course_a}, 403),
        (student(), {"type": "course", "course_id": course_a}, 403),
        (data.owner_a, {"type": "course", "course_id": str(uuid.uuid4())}, 404),
        (data.the_admin, {"type": "course", "course_id": str(uuid.uuid4())}, 404),
        (instructor(), {"type": "instructor"}, 202),
        (data.the_admin, {"type": "instructor"}, 202),
        (student(), {"type": "instructor"}, 403),
        (admin(), {"type": "platform"}, 202),
        (data.owner_a, {"type": "platform"}, 403),
        (student(), {"type": "platform"}, 403),
        # Bad bodies: 422, never queued.
        (data.owner_a, {"type": "course"}, 422),
        (data.owner_a, {"type": "instructor", "course_id": course_a}, 422),
        (data.owner_a, {"type": "instructor", "from": "2026-11-10", "to": "2026-11-01"}, 422),
        (data.owner_a, {"type": "instructor", "from": "2020-01-01", "to": "2026-11-01"}, 422),
        # One end given: the other is filled in (today, or 30 days before) and the period checked all the same.
        (data.owner_a, {"type": "instructor", "from": "2020-01-01"}, 422),
        (data.owner_a, {"type": "instructor", "to": "1970-01-05"}, 422),
        (data.owner_a, {"type": "instructor", "format": "pdf"}, 422),
        (data.owner_a, {"type": "instructor", "colour": "red"}, 422),
        (data.owner_a, {"type": "everything"}, 422),
        (data.owner_a, {"type": "course", "course_id": "not-a-uuid"}, 422),
        (data.owner_a, {"type": "instructor", "from": "yesterday"}, 422),
    ]
    got = [(who[1], body, request(who, **body)["statusCode"]) for who, body, _ in cases]
    assert got == [(who[1], body, status) for who, body, status in cases]
    assert len(receive(aws)) == sum(1 for *_, status in cases if status == 202)
    assert call("reports-create", None, body={"type": "platform"})["statusCode"] == 401


def test_reports_are_listed_newest_first_and_only_to_their_owner(data: Data, aws: dict[str, Any]) -> None:
    owner = instructor()
    ids = [body_of(request(owner, type="instructor", format=fmt))["report_id"] for fmt in ("html", "csv", "html")]
    page = body_of(call("reports-list", owner, query={"limit": "2", "offset": "0"}))
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    assert [r["report_id"] for r in page["items"]] == ids[::-1][:2]
    rest = body_of(call("reports-list", owner, query={"limit": "2", "offset": "2"}))
    assert [r["report_id"] for r in rest["items"]] == [ids[0]]
    assert body_of(call("reports-list", instructor()))["total"] == 0
    # Someone else's report, even an admin's look at it, is not found; as is an unknown id.
    for who in (instructor(), data.the_admin, student()):
        assert get(who, ids[0])["statusCode"] == 404
    assert get(owner, str(uuid.uuid4()))["statusCode"] == 404
    assert get(owner, "nope")["statusCode"] == 422
    assert call("reports-list", owner, query={"limit": "0"})["statusCode"] == 422


# --- the builder: failures, early messages, redelivery -------------------------------------------------------------


def test_a_failing_build_is_retried_and_marked_failed_on_the_last_receive(
        data: Data, aws: dict[str, Any], analytics_db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    report_id = body_of(request(data.owner_a, type="instructor", format="html"))["report_id"]
    [message] = receive(aws)
    monkeypatch.setenv("REPORTS_BUCKET", f"missing-{uuid.uuid4().hex[:8]}")  # S3 refuses the put
    reset_clients()
    assert build([message], receives=1) == [message["MessageId"]]
    row = report_row(analytics_db, report_id)
    assert (row.status, row.error, row.attempts) == ("queued", None, 1)
    assert build([message], receives=MAX_RECEIVES) == [message["MessageId"]]  # SQS dead-letters it now
    failed = body_of(get(data.owner_a, report_id))
    assert failed["status"] == "failed" and failed.get("download_url") is None
    assert failed["error"] and "Traceback" not in failed["error"] and "missing-" not in failed["error"]
    assert report_row(analytics_db, report_id).attempts == 2
    assert outbox(analytics_db, report_id) == []
    # A later delivery of the same message changes nothing.
    assert build([message], receives=MAX_RECEIVES + 1) == []
    assert body_of(get(data.owner_a, report_id))["status"] == "failed"


def test_a_message_before_its_row_is_retried_and_dropped_on_the_last_receive(aws: dict[str, Any]) -> None:
    early = {"MessageId": "early", "ReceiptHandle": "r-early", "Body": json.dumps({"report_id": str(uuid.uuid4())}),
             "Attributes": {"ApproximateReceiveCount": "1"}}
    assert build([early]) == ["early"]
    assert build([early], receives=MAX_RECEIVES) == []
    assert build([dict(early, MessageId="junk", Body="{not json")]) == []  # nothing can ever make it a report


def test_a_redelivered_message_of_a_ready_report_does_nothing(
        data: Data, aws: dict[str, Any], analytics_db: Engine) -> None:
    report_id = body_of(request(data.owner_b, type="course", course_id=str(data.course_b.course_id),
                                format="csv"))["report_id"]
    [message] = receive(aws)
    assert build([message]) == []
    before = report_row(analytics_db, report_id)
    assert build([message], receives=2) == []
    after = report_row(analytics_db, report_id)
    assert (after.status, after.ready_at, after.attempts) == ("ready", before.ready_at, before.attempts)
    assert [e["event_type"] for e in outbox(analytics_db, report_id)] == ["report.ready"]


# --- the schedules -------------------------------------------------------------------------------------------------


def scheduled(name: str) -> Any:
    from smartcourse_analytics.catalogue import function

    fn = function(name)
    module, _, attr = fn.handler.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def scheduled_rows(db: Engine, report_type: str) -> list[Any]:
    with db.connect() as conn:
        return list(conn.execute(text("SELECT * FROM reports WHERE scheduled AND report_type = :t "
                                      "ORDER BY owner_user_id"), {"t": report_type}).all())


def test_the_weekly_digest_queues_one_report_per_instructor_with_a_course_once(
        data: Data, aws: dict[str, Any], analytics_db: Engine) -> None:
    monday = datetime(2026, 11, 16, 7, 0, tzinfo=UTC)
    weekly = scheduled("analytics-weekly-digests")
    first = weekly({"time": monday.isoformat().replace("+00:00", "Z")}, None)
    rows = scheduled_rows(analytics_db, "instructor")
    assert {r.owner_user_id for r in rows} == {data.inst_a, data.inst_b}  # not the archived course's owner
    assert {(r.period_from, r.period_to, r.format, r.status) for r in rows} == {
        (date(2026, 11, 9), date(2026, 11, 15), "html", "queued")}
    assert first["queued"] == 2
    messages = receive(aws)
    assert {json.loads(m["Body"])["report_id"] for m in messages} == {str(r.report_id) for r in rows}
    # The same firing again (a retry, a second runner) and a later one on the same day: nothing new.
    assert weekly({"time": monday.isoformat()}, None)["queued"] == 0
    assert weekly({"time": (monday + timedelta(hours=5)).isoformat()}, None)["queued"] == 0
    assert receive(aws) == [] and len(scheduled_rows(analytics_db, "instructor")) == 2
    # Built, each digest is its owner's, and says it is a digest.
    assert build(messages) == []
    for row in scheduled_rows(analytics_db, "instructor"):
        view = body_of(get((row.owner_user_id, "instructor"), str(row.report_id)))
        assert view["status"] == "ready" and view["scheduled"] is True
        html = download(view["download_url"])[1].decode()
        assert "Weekly digest" in html
        own, other = ((data.course_a, data.course_b) if row.owner_user_id == data.inst_a
                      else (data.course_b, data.course_a))
        assert own.title.split(" ")[0] in html and other.title.split(" ")[0] not in html
    # The next week's firing queues the next week's digests.
    assert weekly({"time": (monday + timedelta(days=7)).isoformat()}, None)["queued"] == 2


def test_the_daily_platform_report_queues_one_per_admin_once_a_day(
        data: Data, aws: dict[str, Any], analytics_db: Engine) -> None:
    daily = scheduled("analytics-daily-platform-report")
    fired = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    assert daily({"time": fired.isoformat()}, None)["queued"] == 1
    [row] = scheduled_rows(analytics_db, "platform")
    assert (row.owner_user_id, row.period_from, row.period_to) == (data.admin_id, date(2026, 11, 19),
                                                                    date(2026, 11, 19))
    assert daily({"time": fired.isoformat()}, None)["queued"] == 0
    assert len(receive(aws)) == 1
    # The scheduler's own (empty) input: the period ends yesterday, today.
    assert daily({}, None)["queued"] == 1
    newest = scheduled_rows(analytics_db, "platform")
    assert (datetime.now(UTC).date() - timedelta(days=1)) in {r.period_to for r in newest}
