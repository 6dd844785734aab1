"""The LMS service: its functions (with the platform's authorizer and the token issuer), buckets and REST API.

The REST API also serves the notification service's routes (the spec puts them under the LMS API); those
functions live in the notification stack and are referenced here by name.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput
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
        # The AI stack reads articles to index them: it imports the bucket's name (read-only grant there).
        CfnOutput(self, "ContentBucketName", value=self.storage.content.bucket_name,
                  export_name=content_bucket_export(self.config))
        return {"buckets": self.storage.buckets}


def content_bucket_export(config: StageConfig) -> str:
    return config.resource_name("content-bucket-name")
