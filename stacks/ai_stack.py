"""The AI service: its API, consumer, index queue and worker, outbox publisher; the provider key's secret.

It reads article documents from the LMS's content bucket (read-only, ``courses/*``), whose name the LMS stack
publishes in an SSM parameter; with an OpenAI-compatible endpoint configured for the stage, the functions that
generate text may read the endpoint's key from the secret this stack creates (set out of band: docs/ai.md).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from smartcourse.catalogue import Service

from stacks import nag
from stacks.constructs.service_function import AiProvider, ImportedBucket
from stacks.lms_stack import content_bucket_parameter
from stacks.service_stack import ServiceStack
from stacks.shared_resources import SharedResources
from stacks.stage_config import StageConfig


class AiStack(ServiceStack):
    def __init__(self, scope: Construct, stack_id: str, *, config: StageConfig, shared: SharedResources,
                 local: bool = False, **kwargs: Any) -> None:
        super().__init__(scope, stack_id, config=config, shared=shared, service=Service.AI, local=local, **kwargs)

    def function_resources(self) -> dict[str, Any]:
        config = self.config
        name = ssm.StringParameter.value_for_string_parameter(self, content_bucket_parameter(config))
        logical_id = self.resolve(name)["Ref"]
        resources: dict[str, Any] = {"content_bucket": ImportedBucket(name=name, nag_name=logical_id)}
        if config.ai_openai_base_url:
            secret = secretsmanager.Secret(
                self, "AiProviderKey", secret_name=config.resource_name("ai-provider-key"),
                description="API key of the stage's OpenAI-compatible endpoint (set it after the first deploy)",
                removal_policy=config.removal_policy)
            nag.suppress(secret, "AwsSolutions-SMG4", "A third-party API key: rotated at its provider, by hand.")
            environment = {"AI_GENERATOR": "openai", "AI_OPENAI_BASE_URL": config.ai_openai_base_url,
                           "AI_OPENAI_CHAT_MODEL": config.ai_openai_chat_model,
                           "AI_OPENAI_SECRET_ARN": secret.secret_arn}
            if config.ai_openai_embedding_model:
                environment |= {"AI_EMBEDDER": "openai",
                                "AI_OPENAI_EMBEDDING_MODEL": config.ai_openai_embedding_model}
            resources["ai_provider"] = AiProvider(secret=secret, environment=environment)
        return resources
