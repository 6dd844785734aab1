"""The LMS service: its functions (with the platform's authorizer and the token issuer), buckets and REST API.

The REST API also serves the notification service's routes (the spec puts them under the LMS API); those
functions live in the notification stack and are referenced here by name.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_ssm as ssm
from constructs import Construct
from smartcourse.catalogue import Service

from stacks.constructs.storage_buckets import StorageBuckets
from stacks.service_stack import ServiceStack
from stacks.shared_resources import SharedResources
from stacks.stage_config import StageConfig


class LmsStack(ServiceStack):
    def __init__(self, scope: Construct, stack_id: str, *, config: StageConfig, shared: SharedResources,
                 local: bool = False, **kwargs: Any) -> None:
        super().__init__(scope, stack_id, config=config, shared=shared, service=Service.LMS, local=local, **kwargs)

    def function_resources(self) -> dict[str, Any]:
        # Learning content (presigned uploads/downloads) and rendered certificates.
        self.storage = StorageBuckets(self, "Storage", config=self.config)
        # The AI stack reads articles to index them. It finds the bucket by this parameter's deterministic name
        # (resolved when it deploys), not by a CloudFormation export, which would tie the two stacks' updates.
        ssm.StringParameter(self, "ContentBucketNameParameter", parameter_name=content_bucket_parameter(self.config),
                            string_value=self.storage.content.bucket_name,
                            description="Name of the LMS content bucket (read by the AI stack)")
        return {"buckets": self.storage.buckets}


def content_bucket_parameter(config: StageConfig) -> str:
    """The SSM parameter holding the content bucket's name."""
    return f"/smartcourse/{config.name}/lms/content-bucket-name"
