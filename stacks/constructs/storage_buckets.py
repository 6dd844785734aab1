"""The LMS's S3 buckets: learning content (article documents) and rendered certificates.

Two buckets, not one with two prefixes: their lifecycles differ (content is
versioned, authors overwrite it; certificates are written once and can be
re-rendered from the database), only content needs browser CORS for
presigned uploads, and a bucket is the unit of encryption, retention and
removal settings, so neither kind's policy leaks onto the other.

Both: S3-managed encryption, all public access blocked, TLS enforced by the
bucket policy, server access logs to a third, log-only bucket. Objects are
auto-deleted on stack removal in dev only; in other stages a bucket that is
not emptied by CDK is retained (CloudFormation cannot delete a non-empty one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks import nag
from stacks.stage_config import StageConfig

CONTENT_PREFIX = "courses/"
CERTIFICATE_PREFIX = "certificates/"
NONCURRENT_VERSION_DAYS = 30
ACCESS_LOG_DAYS = 90
CORS_MAX_AGE_SECONDS = 3000


def private_bucket_settings(config: StageConfig) -> dict[str, Any]:
    """Every bucket of the app: S3-managed encryption, no public access, TLS only, no ACLs; objects deleted
    with the stack in dev only (elsewhere the bucket is retained: CloudFormation cannot delete a non-empty one)."""
    auto_delete = config.name == "dev"
    return {
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "enforce_ssl": True,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        "removal_policy": config.removal_policy if auto_delete else RemovalPolicy.RETAIN,
        "auto_delete_objects": auto_delete,
    }


def access_log_bucket(scope: Construct, config: StageConfig, of: str) -> s3.Bucket:
    """The server access log bucket of ``of`` (kept ``ACCESS_LOG_DAYS``)."""
    bucket = s3.Bucket(
        scope, "AccessLogs", **private_bucket_settings(config),
        lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(ACCESS_LOG_DAYS))],
    )
    nag.suppress(bucket, "AwsSolutions-S1",
                 f"This is the server access log bucket of {of}; logging it into itself would loop and another "
                 "log bucket would only move the finding.")
    return bucket


@dataclass(frozen=True)
class Buckets:
    """What a function construct needs to grant access to the buckets."""

    content: s3.IBucket
    certificates: s3.IBucket


class StorageBuckets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        common = private_bucket_settings(config)

        self.access_logs = access_log_bucket(self, config, "the content and certificate buckets")

        self.content = s3.Bucket(
            self, "Content", **common,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="content/",
            cors=[s3.CorsRule(
                allowed_methods=[s3.HttpMethods.PUT, s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                allowed_origins=list(config.content_cors_origins),
                # A presigned PUT signs Content-Type (browsers add Content-Length themselves, no preflight).
                allowed_headers=["Content-Type"],
                exposed_headers=["ETag"],
                max_age=CORS_MAX_AGE_SECONDS,
            )],
            lifecycle_rules=[s3.LifecycleRule(
                id="expire-old-versions",
                noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )],
        )

        self.certificates = s3.Bucket(
            self, "Certificates", **common,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="certificates/",
            lifecycle_rules=[s3.LifecycleRule(id="abort-incomplete-uploads",
                                              abort_incomplete_multipart_upload_after=Duration.days(1))],
        )
        self.buckets = Buckets(content=self.content, certificates=self.certificates)
