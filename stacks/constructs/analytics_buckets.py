"""The Analytics service's S3 buckets: built reports, the event archive, and Athena's query results.

Three buckets, not one with three prefixes, for the reason the LMS has two: their lifecycles differ (a report
expires after the stage's retention; the archive is the replay source, kept in staging and prod; query
results are scratch), and a bucket is the unit of those settings, so none leaks onto another.

All: S3-managed encryption, all public access blocked, TLS enforced by the bucket policy, bucket owner
enforced (no ACLs), server access logs to a fourth, log-only bucket. Objects are auto-deleted on stack
removal in dev only; in other stages a bucket is retained (CloudFormation cannot delete a non-empty one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.constructs.storage_buckets import access_log_bucket, private_bucket_settings
from stacks.stage_config import StageConfig

# Key layout (the functions' code writes the same): reports/<owner_user_id>/<report_id>.<html|csv>;
# events/topic=<topic>/date=<yyyy-mm-dd>/<object>.jsonl.gz (Hive-style, what the Athena table projects).
REPORTS_PREFIX = "reports/"
ARCHIVE_PREFIX = "events/"
QUERY_RESULTS_PREFIX = "athena/"
QUERY_RESULT_DAYS = 7  # query results are scratch: re-run the query
NONCURRENT_ARCHIVE_DAYS = 30  # an overwritten or deleted archive object can be restored for this long
INCOMPLETE_UPLOAD_DAYS = 1


@dataclass(frozen=True)
class AnalyticsStorage:
    """What a function construct needs to grant access to the reports bucket and the event archive."""

    reports: s3.IBucket
    archive: s3.IBucket


class AnalyticsBuckets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        common = private_bucket_settings(config)

        self.access_logs = access_log_bucket(self, config, "the reports, archive and query-result buckets")

        self.reports = s3.Bucket(
            self, "Reports", **common,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="reports/",
            lifecycle_rules=[
                # A report is a download of figures the database keeps: past the retention, request it again.
                s3.LifecycleRule(id="expire-reports", prefix=REPORTS_PREFIX,
                                 expiration=Duration.days(config.analytics_report_retention_days)),
                s3.LifecycleRule(id="abort-incomplete-uploads",
                                 abort_incomplete_multipart_upload_after=Duration.days(INCOMPLETE_UPLOAD_DAYS)),
            ],
        )

        archive_rule: dict[str, Any] = {}
        if config.analytics_archive_tiering_days is not None:
            # Intelligent-Tiering, not Standard-IA: the archive's many small objects (one per batch) would pay
            # IA's 128 KB minimum, and its access tiers stay readable by Athena and the replay (no restore).
            archive_rule["transitions"] = [s3.Transition(
                storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                transition_after=Duration.days(config.analytics_archive_tiering_days))]
        if config.analytics_archive_retention_days is not None:
            archive_rule["expiration"] = Duration.days(config.analytics_archive_retention_days)
        self.archive = s3.Bucket(
            self, "Archive", **common,
            # The archive is what a rebuild replays: a deleted or overwritten object stays restorable a while.
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="archive/",
            lifecycle_rules=[
                *([s3.LifecycleRule(id="archive-events", prefix=ARCHIVE_PREFIX, **archive_rule)]
                  if archive_rule else []),
                s3.LifecycleRule(id="expire-old-versions",
                                 noncurrent_version_expiration=Duration.days(NONCURRENT_ARCHIVE_DAYS),
                                 abort_incomplete_multipart_upload_after=Duration.days(INCOMPLETE_UPLOAD_DAYS)),
            ],
        )

        self.query_results = s3.Bucket(
            self, "QueryResults", **common,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="query-results/",
            lifecycle_rules=[s3.LifecycleRule(
                id="expire-query-results", expiration=Duration.days(QUERY_RESULT_DAYS),
                abort_incomplete_multipart_upload_after=Duration.days(INCOMPLETE_UPLOAD_DAYS))],
        )
        self.storage = AnalyticsStorage(reports=self.reports, archive=self.archive)
