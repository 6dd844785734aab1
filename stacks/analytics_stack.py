"""The Analytics service: its API, consumer, archiver, report queue and builder, report schedules, replay;
the reports bucket, the event archive, and the archive as an Athena table.

The archive (``events/topic=<topic>/date=<yyyy-mm-dd>/…jsonl.gz``, one event envelope per line) is what a
rebuild replays; the Glue table over it, with partition projection, lets a deployment that outgrows one
database query it with Athena without a crawler or ``MSCK REPAIR``: the partitions are computed from the
topics and the dates, not registered. Queries run in the stack's workgroup, whose results are encrypted and
written to a bucket of their own (the workgroup's settings override the client's).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from constructs import Construct
from smartcourse.catalogue import Service
from smartcourse_events.topics import ALL_TOPICS

from stacks.constructs.analytics_buckets import ARCHIVE_PREFIX, QUERY_RESULTS_PREFIX, AnalyticsBuckets
from stacks.service_stack import ServiceStack
from stacks.shared_resources import SharedResources
from stacks.stage_config import StageConfig

EVENTS_TABLE = "events"
# The first day the projection enumerates (no event of the platform is older); NOW keeps it open-ended.
ARCHIVE_FIRST_DATE = "2026-01-01"
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
TEXT_INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"  # reads .gz objects transparently
TEXT_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
# The event envelope (smartcourse_events.envelope.EventEnvelope), one column per field. The OpenX SerDe
# keeps a nested object as its JSON text in a string column: payload is read with json_extract_scalar.
ENVELOPE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "string"),
    ("event_type", "string"),
    ("event_version", "int"),
    ("occurred_at", "string"),  # ISO 8601 with offset: from_iso8601_timestamp(occurred_at)
    ("producer", "string"),
    ("aggregate_type", "string"),
    ("aggregate_id", "string"),
    ("correlation_id", "string"),
    ("payload", "string"),
)
PARTITION_KEYS: tuple[tuple[str, str], ...] = (("topic", "string"), ("date", "string"))
# A runaway query (no partition filter over years of events) stops here instead of billing on.
QUERY_BYTES_SCANNED_CUTOFF = 100 * 1024**3


def glue_database_name(config: StageConfig) -> str:
    """``smartcourse_<stage>_events``: Glue and Athena names are lowercase with underscores."""
    return f"smartcourse_{config.name}_events".replace("-", "_").lower()


def projection_parameters(bucket_name: str) -> dict[str, str]:
    """The table parameters by which Athena computes the archive's partitions (every topic, every date) itself."""
    return {
        "projection.enabled": "true",
        "projection.topic.type": "enum",
        "projection.topic.values": ",".join(ALL_TOPICS),
        "projection.date.type": "date",
        "projection.date.format": "yyyy-MM-dd",
        "projection.date.range": f"{ARCHIVE_FIRST_DATE},NOW",
        "projection.date.interval": "1",
        "projection.date.interval.unit": "DAYS",
        # ${...} are the projection's placeholders, not CloudFormation's (the value is no Fn::Sub).
        "storage.location.template": f"s3://{bucket_name}/{ARCHIVE_PREFIX}topic=${{topic}}/date=${{date}}/",
    }


class AnalyticsStack(ServiceStack):
    def __init__(self, scope: Construct, stack_id: str, *, config: StageConfig, shared: SharedResources,
                 local: bool = False, **kwargs: Any) -> None:
        super().__init__(scope, stack_id, config=config, shared=shared, service=Service.ANALYTICS, local=local,
                         **kwargs)

    def function_resources(self) -> dict[str, Any]:
        self.buckets = AnalyticsBuckets(self, "Storage", config=self.config)
        self._event_table()
        self._workgroup()
        return {"analytics_storage": self.buckets.storage}

    def _event_table(self) -> None:
        config = self.config
        bucket_name = self.buckets.archive.bucket_name
        self.glue_database = glue.CfnDatabase(
            self, "EventsDatabase", catalog_id=self.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=glue_database_name(config),
                description=f"SmartCourse ({config.name}): the event archive, for Athena"),
        )
        self.events_table = glue.CfnTable(
            self, "EventsTable", catalog_id=self.account, database_name=glue_database_name(config),
            table_input=glue.CfnTable.TableInputProperty(
                name=EVENTS_TABLE,
                description="Every event of every topic, as archived (gzip JSON Lines, one envelope per line)",
                table_type="EXTERNAL_TABLE",
                parameters={"EXTERNAL": "TRUE", "classification": "json", "compressionType": "gzip",
                            **projection_parameters(bucket_name)},
                partition_keys=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in PARTITION_KEYS],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=f"s3://{bucket_name}/{ARCHIVE_PREFIX}",
                    input_format=TEXT_INPUT_FORMAT,
                    output_format=TEXT_OUTPUT_FORMAT,
                    compressed=True,
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in ENVELOPE_COLUMNS],
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=JSON_SERDE,
                        # A line the SerDe cannot read fails the query rather than reading as nulls.
                        parameters={"ignore.malformed.json": "false"}),
                ),
            ),
        )
        self.events_table.node.add_dependency(self.glue_database)

    def _workgroup(self) -> None:
        config = self.config
        results = self.buckets.query_results
        self.workgroup = athena.CfnWorkGroup(
            self, "Workgroup",
            name=config.resource_name("analytics"),
            description=f"SmartCourse ({config.name}): queries over the event archive",
            state="ENABLED",
            # A workgroup with query history refuses to be deleted unless told to; dev is disposable.
            recursive_delete_option=config.name == "dev",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=QUERY_BYTES_SCANNED_CUTOFF,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{results.bucket_name}/{QUERY_RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"),
                ),
            ),
        )
