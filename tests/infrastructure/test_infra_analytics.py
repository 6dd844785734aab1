"""The Analytics stack: its buckets, the event archive's Athena table, exact IAM per grant, the report queue and
schedules, its API behind the platform's authorizer, and what the local cloud makes of it.

Synthesized for dev, staging and prod (bundling skipped). Expectations come from the catalogue, the stage
config and the event contracts, so a change there is checked here without editing this file; the layout of
the archive is the one events.md gives (``events/topic=<topic>/date=<yyyy-mm-dd>/…``).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import App, NestedStack
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks
from localcloud.services import AwsEmulator
from smartcourse.catalogue import Function, Grant, Service
from smartcourse_analytics import archive
from smartcourse_analytics.catalogue import CATALOGUE, REPORT_QUEUE, function
from smartcourse_analytics.report_queue import report_key
from smartcourse_events.envelope import EventEnvelope
from smartcourse_events.topics import ALL_TOPICS

from stacks import services
from stacks.analytics_stack import AnalyticsStack
from stacks.app_builder import LOCAL_CONTEXT_KEY, build, cdk_json_context
from stacks.constructs.analytics_buckets import ARCHIVE_PREFIX, REPORTS_PREFIX
from stacks.constructs.service_function import snap_started
from stacks.service_stack import MAX_RECEIVE_COUNT, ServiceStack
from stacks.services import CATALOGUES
from stacks.stage_config import STAGES, StageConfig, stage_config

pytestmark = pytest.mark.infrastructure

ANALYTICS = CATALOGUE.functions
HEALTH_AND_DOCS = frozenset({"analytics-health", "analytics-docs"})
BUCKET_GRANTS = frozenset({Grant.ANALYTICS_REPORTS_BUCKET, Grant.ANALYTICS_REPORTS_READ, Grant.EVENT_ARCHIVE,
                           Grant.EVENT_ARCHIVE_READ})
# The bucket construct's ids: which logical id is which bucket.
BUCKET_IDS = {"reports": "StorageReports", "archive": "StorageArchive", "results": "StorageQueryResults",
              "logs": "StorageAccessLogs"}
# events.md: events/topic=<topic>/date=<yyyy-mm-dd>/… (the glob ends the template: any object name below).
ARCHIVE_DIRECTORY = re.compile(r"^events/topic=(?P<topic>[a-z0-9.\-]+)/date=(?P<date>\d{4}-\d{2}-\d{2})/$")


# --- synthesis --------------------------------------------------------------------------------------------------

@dataclass
class Analytics:
    stage: str
    config: StageConfig
    stack: AnalyticsStack
    json: dict[str, Any]
    api: dict[str, Any]  # the nested API stack's template

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.json["Resources"])

    def of_type(self, resource_type: str, template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in (template or self.json)["Resources"].items() if r["Type"] == resource_type}

    def bucket(self, role: str) -> str:
        [lid] = [lid for lid in self.of_type("AWS::S3::Bucket") if lid.startswith(BUCKET_IDS[role])]
        return lid

    def function_lid(self, spec: Function) -> str:
        [lid] = [lid for lid, r in self.of_type("AWS::Lambda::Function").items()
                 if (r.get("Metadata") or {}).get("smartcourse:function") == spec.name]
        return lid

    def invoked(self, spec: Function) -> dict[str, Any]:
        """What a trigger names to invoke ``spec``: its ``live`` alias where the stage runs it with SnapStart."""
        if not snap_started(spec, self.config):
            return {"Ref": self.function_lid(spec)}
        lid = self.function_lid(spec)
        [alias] = [alias_lid for alias_lid, r in self.of_type("AWS::Lambda::Alias").items()
                   if r["Properties"]["FunctionName"] == {"Ref": lid}]
        return {"Ref": alias}

    def props(self, spec: Function) -> dict[str, Any]:
        return dict(self.resources[self.function_lid(spec)]["Properties"])

    def env(self, spec: Function) -> dict[str, Any]:
        return dict(self.props(spec)["Environment"]["Variables"])

    def statements(self, spec: Function) -> list[dict[str, Any]]:
        role = self.resources[self.props(spec)["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert not role.get("ManagedPolicyArns"), spec.name
        return [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]

    def queue(self, name: str) -> str:
        [lid] = [lid for lid, r in self.of_type("AWS::SQS::Queue").items()
                 if r["Properties"]["QueueName"] == self.config.resource_name(name)]
        return lid


def synthesize(stage: str) -> Analytics:
    app = App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": [], "stage": stage})
    built = build(app)
    stack = built.analytics
    [api] = [child for child in stack.node.children if isinstance(child, NestedStack)]
    return Analytics(stage, built.config, stack, dict(Template.from_stack(stack).to_json()),
                     dict(Template.from_stack(api).to_json()))


@pytest.fixture(scope="module")
def stages() -> dict[str, Analytics]:
    return {stage: synthesize(stage) for stage in STAGES}


@pytest.fixture(params=STAGES)
def analytics(request: pytest.FixtureRequest, stages: dict[str, Analytics]) -> Analytics:
    return stages[str(request.param)]


# --- template walking -------------------------------------------------------------------------------------------

def actions(statement: dict[str, Any]) -> list[str]:
    value = statement["Action"]
    return [value] if isinstance(value, str) else list(value)


def targets(statement: dict[str, Any]) -> list[Any]:
    value = statement["Resource"]
    return list(value) if isinstance(value, list) else [value]


def render(expr: Any) -> str:
    """An expression as text: ``Fn::Join`` joined, every reference as ``<logical id>`` (pseudo params ``{}``)."""
    if isinstance(expr, str):
        return expr
    if isinstance(expr, dict) and "Fn::Join" in expr:
        delimiter, parts = expr["Fn::Join"]
        return str(delimiter).join(render(p) for p in parts)
    if isinstance(expr, dict) and isinstance(expr.get("Ref"), str):
        return "{}" if expr["Ref"].startswith("AWS::") else f"<{expr['Ref']}>"
    if isinstance(expr, dict) and "Fn::GetAtt" in expr:
        return f"<{expr['Fn::GetAtt'][0]}.{expr['Fn::GetAtt'][1]}>"
    return "{}"


def s3_access(analytics: Analytics, spec: Function) -> set[tuple[str, str, str]]:
    """(bucket role, object key pattern or "" for the bucket, action) of every S3 statement of the role."""
    roles = {f"<{analytics.bucket(r)}.Arn>": r for r in BUCKET_IDS}
    out = set()
    for statement in analytics.statements(spec):
        s3_actions = [a for a in actions(statement) if a.startswith("s3:")]
        if not s3_actions:
            continue
        assert statement["Effect"] == "Allow", spec.name
        for target in targets(statement):
            text = render(target)
            match = re.fullmatch(r"(<[^>]+>)(/.*)?", text)
            assert match and match.group(1) in roles, (spec.name, text)
            out |= {(roles[match.group(1)], match.group(2) or "", a) for a in s3_actions}
    return out


def expected_s3_access(spec: Function) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    if Grant.ANALYTICS_REPORTS_BUCKET in spec.grants:
        out |= {("reports", "/reports/*", "s3:PutObject"), ("reports", "", "s3:ListBucket")}
    if Grant.ANALYTICS_REPORTS_READ in spec.grants:
        out |= {("reports", "/reports/*", "s3:GetObject"), ("reports", "", "s3:ListBucket")}
    if Grant.EVENT_ARCHIVE in spec.grants:
        out |= {("archive", "/events/*", "s3:PutObject"), ("archive", "", "s3:ListBucket")}
    if Grant.EVENT_ARCHIVE_READ in spec.grants:
        out |= {("archive", "/events/*", "s3:GetObject"), ("archive", "", "s3:ListBucket")}
    return out


def bucket_policy(analytics: Analytics, bucket_lid: str) -> list[dict[str, Any]]:
    [statements] = [r["Properties"]["PolicyDocument"]["Statement"]
                    for r in analytics.of_type("AWS::S3::BucketPolicy").values()
                    if r["Properties"]["Bucket"] == {"Ref": bucket_lid}]
    return list(statements)


def lifecycle(analytics: Analytics, role: str) -> dict[str, dict[str, Any]]:
    props = analytics.resources[analytics.bucket(role)]["Properties"]
    return {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}


def api_methods(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, full path) -> AWS::ApiGateway::Method properties, paths rebuilt from the resources."""
    parts = {lid: r["Properties"] for lid, r in template["Resources"].items()
             if r["Type"] == "AWS::ApiGateway::Resource"}

    def path(lid: str) -> str:
        parent = parts[lid]["ParentId"]
        prefix = "" if "Fn::GetAtt" in parent else path(parent["Ref"])
        return f"{prefix}/{parts[lid]['PathPart']}"

    out = {}
    for res in template["Resources"].values():
        if res["Type"] == "AWS::ApiGateway::Method":
            props = res["Properties"]
            resource = props["ResourceId"]
            out[(props["HttpMethod"], "/" if "Fn::GetAtt" in resource else path(resource["Ref"]))] = props
    return out


def walk(expr: Any) -> Iterator[Any]:
    yield expr
    if isinstance(expr, dict):
        for value in expr.values():
            yield from walk(value)
    elif isinstance(expr, list):
        for value in expr:
            yield from walk(value)


# --- buckets ----------------------------------------------------------------------------------------------------

def test_buckets_are_private_encrypted_tls_only_and_logged(analytics: Analytics) -> None:
    assert {analytics.bucket(role) for role in BUCKET_IDS} == set(analytics.of_type("AWS::S3::Bucket"))
    for role in BUCKET_IDS:
        lid = analytics.bucket(role)
        props = analytics.resources[lid]["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True}, role
        [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}, role
        assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}, role
        deny = [s for s in bucket_policy(analytics, lid) if s["Effect"] == "Deny"
                and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
        assert deny and deny[0]["Action"] == "s3:*" and deny[0]["Principal"] == {"AWS": "*"}, role
        # No bucket policy lets anyone in: the functions' roles are the way in. Only S3's log delivery writes
        # the log bucket, and in dev CDK's provider may empty a bucket when the stack is deleted.
        allowed = {_principal(s["Principal"]) for s in bucket_policy(analytics, lid) if s["Effect"] == "Allow"}
        expected = ({"service:logging.s3.amazonaws.com"} if role == "logs" else set()) | (
            {"auto-delete-provider"} if analytics.stage == "dev" else set())
        assert allowed == expected, role
        if role != "logs":
            assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": analytics.bucket("logs")}, role
        else:
            assert "LoggingConfiguration" not in props


def _principal(principal: dict[str, Any]) -> str:
    if "Service" in principal:
        return f"service:{principal['Service']}"
    text = render(principal.get("AWS"))
    return "auto-delete-provider" if text.startswith("<CustomS3AutoDeleteObjectsCustomResourceProviderRole") else text


def test_reports_expire_after_the_stages_retention(analytics: Analytics) -> None:
    rules = lifecycle(analytics, "reports")
    assert rules["expire-reports"] == {"Id": "expire-reports", "Prefix": "reports/", "Status": "Enabled",
                                       "ExpirationInDays": analytics.config.analytics_report_retention_days}
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    # Nothing else expires reports (another rule without a prefix would cut the stage's retention short).
    assert all("ExpirationInDays" not in r for i, r in rules.items() if i != "expire-reports")


def test_report_retention_grows_with_the_stage() -> None:
    days = [stage_config(s).analytics_report_retention_days for s in STAGES]
    assert days == [7, 30, 90]


@pytest.mark.parametrize(("changes", "message"), [
    ({"analytics_report_retention_days": 0}, "report retention"),
    ({"analytics_archive_tiering_days": -1}, "archive tiering"),
    ({"analytics_archive_retention_days": 0}, "archive retention"),
    ({"analytics_archive_tiering_days": 30, "analytics_archive_retention_days": 30}, "after the tiering"),
])
def test_stage_config_refuses_a_lifecycle_s3_would_reject(changes: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(stage_config("prod"), **changes)  # type: ignore[arg-type]


def test_the_archive_is_kept_outside_dev(stages: dict[str, Analytics]) -> None:
    for stage, analytics in stages.items():
        archive = analytics.resources[analytics.bucket("archive")]
        rules = lifecycle(analytics, "archive")
        events_rule = rules.get("archive-events", {})
        assert archive["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
        assert rules["expire-old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0
        assert rules["expire-old-versions"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
        assert not any("ExpirationInDays" in r for i, r in rules.items() if i != "archive-events"), stage
        dev = stage == "dev"
        assert archive["DeletionPolicy"] == ("Delete" if dev else "Retain"), stage
        assert ("ExpirationInDays" in events_rule) == dev, stage
        if dev:
            assert events_rule["ExpirationInDays"] == analytics.config.analytics_archive_retention_days
            assert "Transitions" not in events_rule
        else:
            # Kept for ever (the replay source), in a storage class Athena and the replay read without restore.
            assert events_rule["Prefix"] == "events/"
            assert events_rule["Transitions"] == [{
                "StorageClass": "INTELLIGENT_TIERING",
                "TransitionInDays": analytics.config.analytics_archive_tiering_days}], stage
        for role in BUCKET_IDS:
            lid = analytics.bucket(role)
            assert analytics.resources[lid]["DeletionPolicy"] == ("Delete" if dev else "Retain"), (stage, role)
        auto_deleted = {r["Properties"]["BucketName"]["Ref"]
                        for r in analytics.of_type("Custom::S3AutoDeleteObjects").values()}
        assert auto_deleted == ({analytics.bucket(r) for r in BUCKET_IDS} if dev else set()), stage


def test_query_results_expire(analytics: Analytics) -> None:
    [rule] = lifecycle(analytics, "results").values()
    assert 0 < rule["ExpirationInDays"] <= 30 and "Prefix" not in rule


# --- the event archive as an Athena table -----------------------------------------------------------------------

def _table(analytics: Analytics) -> dict[str, Any]:
    [table] = analytics.of_type("AWS::Glue::Table").values()
    return dict(table)


def test_glue_database_and_events_table(analytics: Analytics) -> None:
    [(db_lid, database)] = analytics.of_type("AWS::Glue::Database").items()
    name = database["Properties"]["DatabaseInput"]["Name"]
    assert name == f"smartcourse_{analytics.stage}_events"
    assert re.fullmatch(r"[a-z0-9_]+", name), "Glue and Athena names: lowercase letters, digits, underscores"
    table = _table(analytics)
    props = table["Properties"]
    assert props["DatabaseName"] == name and db_lid in table.get("DependsOn", [])
    assert props["CatalogId"] == database["Properties"]["CatalogId"] == {"Ref": "AWS::AccountId"}
    table_input = props["TableInput"]
    assert table_input["Name"] == "events" and table_input["TableType"] == "EXTERNAL_TABLE"
    descriptor = table_input["StorageDescriptor"]
    # One column per envelope field, in the envelope's order: what the archiver writes on each line.
    columns = [(c["Name"], c["Type"]) for c in descriptor["Columns"]]
    assert [n for n, _ in columns] == list(EventEnvelope.model_fields)
    assert dict(columns) == {n: ("int" if n == "event_version" else "string") for n in EventEnvelope.model_fields}
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert descriptor["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert descriptor["OutputFormat"] == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    assert render(descriptor["Location"]) == f"s3://<{analytics.bucket('archive')}>/events/"
    assert table_input["PartitionKeys"] == [{"Name": "topic", "Type": "string"}, {"Name": "date", "Type": "string"}]


def test_partitions_are_projected_over_the_archive_layout(analytics: Analytics) -> None:
    parameters = _table(analytics)["Properties"]["TableInput"]["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.topic.type"] == "enum"
    assert parameters["projection.topic.values"].split(",") == list(ALL_TOPICS)
    assert parameters["projection.date.type"] == "date"
    assert parameters["projection.date.format"] == "yyyy-MM-dd"
    start, end = parameters["projection.date.range"].split(",")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", start) and end == "NOW"
    assert (parameters["projection.date.interval"], parameters["projection.date.interval.unit"]) == ("1", "DAYS")
    # The template is s3://<the archive bucket>/<the archiver's layout>, with the projection's placeholders
    # (a literal ${...}: not a CloudFormation Fn::Sub).
    template = parameters["storage.location.template"]
    assert not any(isinstance(node, dict) and "Fn::Sub" in node for node in walk(template))
    text = render(template)
    prefix = f"s3://<{analytics.bucket('archive')}>/"
    assert text.startswith(prefix)
    day = date(2026, 3, 4)
    for topic in ALL_TOPICS:
        directory = text.removeprefix(prefix).replace("${topic}", topic).replace("${date}", day.isoformat())
        match = ARCHIVE_DIRECTORY.fullmatch(directory)
        assert match and match.group("topic") == topic and match.group("date") == "2026-03-04", directory
        # Where the archiver writes that topic's events of that day: the partition Athena reads.
        assert directory == archive.partition_prefix(topic, day)
        assert archive.object_key(topic, day, [uuid.uuid4()]).startswith(directory)
    # Every placeholder is a partition key with a projection.
    assert set(re.findall(r"\$\{(\w+)\}", text)) == {"topic", "date"}


def test_grant_prefixes_are_where_the_code_writes() -> None:
    """The IAM prefixes (stacks) and the keys the functions' code builds (the analytics layer) agree."""
    assert ARCHIVE_PREFIX == archive.PREFIX
    assert archive.object_key(ALL_TOPICS[0], date(2026, 3, 4), [uuid.uuid4()]).startswith(ARCHIVE_PREFIX)
    assert report_key(uuid.uuid4(), uuid.uuid4(), "html").startswith(REPORTS_PREFIX)


def test_athena_workgroup_writes_encrypted_results_to_its_own_bucket(analytics: Analytics) -> None:
    [workgroup] = analytics.of_type("AWS::Athena::WorkGroup").values()
    props = workgroup["Properties"]
    assert props["Name"] == analytics.config.resource_name("analytics")
    configuration = props["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] > 0
    results = configuration["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    # A bucket of their own (they expire as scratch), never the archive or the reports.
    assert render(results["OutputLocation"]) == f"s3://<{analytics.bucket('results')}>/athena/"
    # Query history would block deleting the workgroup: only dev, the disposable stage, deletes it anyway.
    assert props.get("RecursiveDeleteOption", False) == (analytics.stage == "dev")


# --- IAM and environment ----------------------------------------------------------------------------------------

def test_bucket_access_is_exactly_the_grants(analytics: Analytics) -> None:
    for spec in ANALYTICS:
        assert s3_access(analytics, spec) == expected_s3_access(spec), spec.name
    # Which function may do what, spelled out (the catalogue's grants above, read the other way round).
    writers = {spec.name for spec in ANALYTICS
               if ("archive", "/events/*", "s3:PutObject") in s3_access(analytics, spec)}
    assert writers == {"analytics-archive-events"}
    replay = s3_access(analytics, function("analytics-replay"))
    assert {a for _, _, a in replay} == {"s3:GetObject", "s3:ListBucket"} and {b for b, _, _ in replay} == {"archive"}
    builder = s3_access(analytics, function("analytics-build-report"))
    assert {(b, k) for b, k, _ in builder} == {("reports", "/reports/*"), ("reports", "")}
    for name in ("analytics-reports-list", "analytics-reports-get"):  # they presign downloads
        assert {(b, k) for b, k, _ in s3_access(analytics, function(name))} == {("reports", "/reports/*"),
                                                                                ("reports", "")}, name
    everything = {x for spec in ANALYTICS for x in s3_access(analytics, spec)}
    assert not {a for _, _, a in everything} & {"s3:DeleteObject", "s3:*"}
    assert {b for b, _, _ in everything} == {"reports", "archive"}, "nobody reads query results or access logs"


def test_bucket_and_queue_environment(analytics: Analytics) -> None:
    reports, archive = analytics.bucket("reports"), analytics.bucket("archive")
    queue = analytics.queue(REPORT_QUEUE)
    for spec in ANALYTICS:
        env = analytics.env(spec)
        assert env.get("REPORTS_BUCKET") == (
            {"Ref": reports} if spec.grants & {Grant.ANALYTICS_REPORTS_BUCKET, Grant.ANALYTICS_REPORTS_READ}
            else None), spec.name
        assert env.get("ARCHIVE_BUCKET") == (
            {"Ref": archive} if spec.grants & {Grant.EVENT_ARCHIVE, Grant.EVENT_ARCHIVE_READ} else None), spec.name
        assert env.get("ANALYTICS_REPORT_QUEUE_URL") == (
            {"Ref": queue} if Grant.ANALYTICS_REPORT_QUEUE in spec.grants else None), spec.name


def test_only_the_report_requesters_send_to_the_report_queue(analytics: Analytics) -> None:
    queue_arn = {"Fn::GetAtt": [analytics.queue(REPORT_QUEUE), "Arn"]}
    senders = set()
    for spec in ANALYTICS:
        for statement in analytics.statements(spec):
            if "sqs:SendMessage" in actions(statement) and queue_arn in targets(statement):
                assert actions(statement) == ["sqs:SendMessage"] and targets(statement) == [queue_arn], spec.name
                senders.add(spec.name)
    assert senders == {f.name for f in ANALYTICS if Grant.ANALYTICS_REPORT_QUEUE in f.grants}
    assert senders == {"analytics-reports-create", "analytics-weekly-digests", "analytics-daily-platform-report"}


def test_a_grant_without_its_resource_fails_the_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    # The buckets: a stack that does not create them cannot deploy a function granted them.
    monkeypatch.setattr(AnalyticsStack, "function_resources", ServiceStack.function_resources)
    with pytest.raises(ValueError, match=r"analytics-\S+: grant \S+ needs the analytics buckets"):
        build(App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": []}), "dev", nag_checks=False)
    monkeypatch.undo()
    # The report queue: without its SQS-triggered builder the stack declares no queue for the senders.
    without_builder = tuple(f for f in ANALYTICS if f.sqs is None)
    monkeypatch.setitem(CATALOGUES, Service.ANALYTICS,
                        dataclasses.replace(CATALOGUE, functions=without_builder))
    with pytest.raises(ValueError, match=r"analytics-\S+: queue 'analytics-reports' is not declared"):
        build(App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": []}), "dev", nag_checks=False)


# --- triggers ---------------------------------------------------------------------------------------------------

def test_report_queue_has_a_dead_letter_queue_and_feeds_the_builder(analytics: Analytics) -> None:
    builder = function("analytics-build-report")
    assert builder.sqs is not None and builder.sqs.queue == REPORT_QUEUE
    queue, dead_letters = analytics.queue(REPORT_QUEUE), analytics.queue(f"{REPORT_QUEUE}-dlq")
    props = analytics.resources[queue]["Properties"]
    assert props["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dead_letters, "Arn"]},
                                      "maxReceiveCount": MAX_RECEIVE_COUNT}
    assert props["SqsManagedSseEnabled"] is True
    assert props["VisibilityTimeout"] >= 6 * builder.timeout_seconds
    assert analytics.resources[dead_letters]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    [mapping] = [r["Properties"] for r in analytics.of_type("AWS::Lambda::EventSourceMapping").values()
                 if r["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}]
    assert mapping["FunctionName"] == analytics.invoked(builder)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == builder.sqs.batch_size
    alarms = [r["Properties"] for r in analytics.of_type("AWS::CloudWatch::Alarm").values()
              if r["Properties"].get("AlarmName") == analytics.config.resource_name(f"{REPORT_QUEUE}-dlq-not-empty")]
    assert len(alarms) == (1 if analytics.config.alarms else 0)


def test_report_schedules_and_a_replay_without_trigger(analytics: Analytics) -> None:
    schedules = {r["Properties"]["Target"]["Arn"]["Fn::GetAtt"][0]: r["Properties"]
                 for r in analytics.of_type("AWS::Scheduler::Schedule").values()}
    expected = {analytics.function_lid(f): f.schedule.expression for f in ANALYTICS if f.schedule}
    assert {lid: s["ScheduleExpression"] for lid, s in schedules.items()} == expected
    weekly, daily = function("analytics-weekly-digests"), function("analytics-daily-platform-report")
    assert schedules[analytics.function_lid(weekly)]["ScheduleExpression"] == "cron(0 7 ? * MON *)"
    assert schedules[analytics.function_lid(daily)]["ScheduleExpression"] == "cron(0 6 * * ? *)"
    for props in schedules.values():
        assert props.get("ScheduleExpressionTimezone") in (None, "UTC")  # the catalogue's hours are UTC
        assert props["State"] == "ENABLED"
    # The replay is invoked by an operator: no schedule, no event source, no route.
    replay = analytics.function_lid(function("analytics-replay"))
    mapped = {r["Properties"]["FunctionName"].get("Ref") for r in
              analytics.of_type("AWS::Lambda::EventSourceMapping").values()}
    assert replay not in schedules and replay not in mapped
    assert not function("analytics-replay").routes


def test_the_archiver_reads_every_topic(analytics: Analytics) -> None:
    archiver = analytics.invoked(function("analytics-archive-events"))
    topics = [r["Properties"]["Topics"][0] for r in analytics.of_type("AWS::Lambda::EventSourceMapping").values()
              if r["Properties"]["FunctionName"] == archiver]
    assert sorted(topics) == sorted(ALL_TOPICS)


# --- API --------------------------------------------------------------------------------------------------------

def test_every_analytics_route_is_behind_the_authorizer(analytics: Analytics) -> None:
    methods = api_methods(analytics.api)
    routed = {(r.method, r.path): f for f in services.api_functions(Service.ANALYTICS) for r in f.routes}
    assert set(methods) == set(routed)
    authorizers = {lid: r["Properties"] for lid, r in analytics.api["Resources"].items()
                   if r["Type"] == "AWS::ApiGateway::Authorizer"}
    [(authorizer, props)] = authorizers.items()
    assert props["IdentitySource"] == "method.request.header.Authorization"
    authorizer_fn = services.function("lms-authorizer")
    aliased = analytics.config.authorizer_provisioned_concurrency or snap_started(authorizer_fn, analytics.config)
    qualifier = ":live" if aliased else ""
    assert f":function:{analytics.config.resource_name('lms-authorizer')}{qualifier}/invocations" in render(
        props["AuthorizerUri"])
    protected = [key for key, spec in routed.items() if spec.name not in HEALTH_AND_DOCS]
    assert len(protected) == sum(len(f.routes) for f in ANALYTICS if f.routes and f.name not in HEALTH_AND_DOCS)
    for key in protected:
        assert methods[key]["AuthorizationType"] == "CUSTOM", key
        assert methods[key]["AuthorizerId"] == {"Ref": authorizer}, key
    for key, spec in routed.items():
        if spec.name in HEALTH_AND_DOCS:
            assert methods[key]["AuthorizationType"] == "NONE", key


# --- cdk-nag ----------------------------------------------------------------------------------------------------

def test_no_cdk_nag_findings(analytics: Analytics) -> None:
    for scope in (analytics.stack, *(c for c in analytics.stack.node.children if isinstance(c, NestedStack))):
        report = AwsSolutionsChecks().validate_scope(scope)
        findings = [f"{v.rule_name}: {[r.construct_path for r in v.violating_resources]}" for v in report.violations]
        assert findings == [], findings


# --- the local cloud --------------------------------------------------------------------------------------------

@pytest.mark.integration
def test_the_local_cloud_provisions_the_buckets_and_the_report_queue(tmp_path: Path, moto: AwsEmulator) -> None:
    """What ``make run`` does with the synthesized template: the analytics buckets and the report queue (with
    its redrive) exist in the emulator, the functions' environment names them, and the Glue/Athena resources
    are left to AWS (the local cloud has no Athena; nothing of them is run or left unresolved)."""
    from localcloud.provision import UNRESOLVED, LocalResources
    from localcloud.template import load

    outdir = tmp_path / "cdk.out"
    app = App(outdir=str(outdir), context={**cdk_json_context(), "stage": "dev", LOCAL_CONTEXT_KEY: "true"})
    build(app)
    app.synth()
    model = load(outdir)
    resources = LocalResources(model, tmp_path / "state", aws_endpoint=moto.endpoint)
    resources.provision()

    stack = "smartcourse-dev-analytics"
    by_name = {fn.name: fn for fn in model.functions.values()}
    env = {name: resources.environment(by_name[name]) for name in (
        "analytics-build-report", "analytics-archive-events", "analytics-replay", "analytics-reports-create")}
    s3 = boto3.client("s3", endpoint_url=moto.endpoint, region_name="us-east-1")
    existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    analytics_buckets = {resources.attributes[q]["Ref"] for q in model.buckets if q.startswith(f"{stack}/")}
    assert len(analytics_buckets) == len(BUCKET_IDS) and analytics_buckets <= existing
    assert env["analytics-build-report"]["REPORTS_BUCKET"] in analytics_buckets
    assert env["analytics-archive-events"]["ARCHIVE_BUCKET"] == env["analytics-replay"]["ARCHIVE_BUCKET"]
    assert env["analytics-archive-events"]["ARCHIVE_BUCKET"] in analytics_buckets
    assert env["analytics-archive-events"]["ARCHIVE_BUCKET"] != env["analytics-build-report"]["REPORTS_BUCKET"]
    # A report written where the builder writes can be read back by a presigned GET's key.
    s3.put_object(Bucket=env["analytics-build-report"]["REPORTS_BUCKET"], Key="reports/probe.csv", Body=b"a\n")
    assert s3.get_object(Bucket=env["analytics-build-report"]["REPORTS_BUCKET"],
                         Key="reports/probe.csv")["Body"].read() == b"a\n"

    sqs = boto3.client("sqs", endpoint_url=moto.endpoint, region_name="us-east-1")
    url = env["analytics-reports-create"]["ANALYTICS_REPORT_QUEUE_URL"]
    assert url.endswith("/smartcourse-dev-analytics-reports")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = attributes["RedrivePolicy"]
    dlq_url = sqs.get_queue_url(QueueName="smartcourse-dev-analytics-reports-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert f'"deadLetterTargetArn": "{dlq_arn}"' in redrive and f'"maxReceiveCount": {MAX_RECEIVE_COUNT}' in redrive
    # The builder's SQS mapping reads that queue; the schedules reach their functions.
    [mapping] = [m for m in model.mappings.values() if m.function == by_name["analytics-build-report"].qid]
    assert mapping.kind == "sqs" and mapping.queue is not None and resources.queue_url(mapping.queue) == url
    schedules = {model.functions[s.function].name: s.expression for s in model.schedules.values()}
    assert {n: e for n, e in schedules.items() if n.startswith("analytics-")} == {
        f.name: f.schedule.expression for f in ANALYTICS if f.schedule}
    # Every bucket and queue a function is told about resolved to a local one.
    for name, variables in env.items():
        named = {k: v for k, v in variables.items() if k.endswith(("_BUCKET", "_QUEUE_URL"))}
        assert named and not [k for k, v in named.items() if v.startswith(UNRESOLVED)], (name, named)
