"""The LMS service: its functions (plus the platform authorizer and migrations), its REST API."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack, triggers
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from smartcourse.catalogue import API_FUNCTIONS, AUTHORIZER, INTERNAL_FUNCTIONS, MIGRATE, Service

from stacks import assets, nag
from stacks.constructs.service_api import ServiceApi
from stacks.constructs.service_function import ServiceFunction
from stacks.constructs.storage_buckets import StorageBuckets
from stacks.shared_stack import SharedResources
from stacks.stage_config import StageConfig

SERVICE = Service.LMS


def _construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


class LmsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, shared: SharedResources,
                 local: bool = False, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config

        code = assets.function_code()
        self.dependencies_layer = lambda_.LayerVersion(
            self, "DependenciesLayer",
            layer_version_name=config.resource_name(f"{SERVICE}-dependencies"),
            description="Third-party packages from requirements/runtime.lock (manylinux aarch64, CPython 3.12)",
            code=assets.dependencies_layer_code(placeholder=local),
            compatible_runtimes=[assets.RUNTIME],
            compatible_architectures=[assets.ARCHITECTURE],
        )
        self.shared_layer = lambda_.LayerVersion(
            self, "SharedLayer",
            layer_version_name=config.resource_name(f"{SERVICE}-shared"),
            description="smartcourse (domain, adapters, settings) and smartcourse_events (event contracts)",
            code=assets.shared_layer_code(),
            compatible_runtimes=[assets.RUNTIME],
            compatible_architectures=[assets.ARCHITECTURE],
        )
        for layer, kind in ((self.dependencies_layer, "dependencies"), (self.shared_layer, "shared")):
            cfn_layer = layer.node.default_child
            assert isinstance(cfn_layer, lambda_.CfnLayerVersion)
            cfn_layer.add_metadata(assets.LAYER_METADATA_KEY, kind)
        layers = [self.dependencies_layer, self.shared_layer]
        # Learning content (presigned uploads/downloads) and rendered certificates.
        self.storage = StorageBuckets(self, "Storage", config=config)

        def build(spec: Any, reserved: int | None) -> ServiceFunction:
            return ServiceFunction(
                self, _construct_id(spec.name), spec=spec, config=config, shared=shared, code=code, layers=layers,
                database_service=SERVICE, reserved_concurrency=reserved, buckets=self.storage.buckets,
            )

        self.functions: dict[str, ServiceFunction] = {}
        self.authorizer = build(AUTHORIZER, config.reserved_concurrency)
        self.migrate = build(MIGRATE, 1 if config.reserved_concurrency is not None else None)
        for spec in API_FUNCTIONS[SERVICE]:
            self.functions[spec.name] = build(spec, config.reserved_concurrency)
        # Route-less functions other services invoke; callers get lambda:InvokeFunction when they are wired.
        self.internal_functions = {spec.name: build(spec, config.reserved_concurrency)
                                   for spec in INTERNAL_FUNCTIONS.get(SERVICE, ())}

        authorizer_handler: lambda_.IFunction = self.authorizer.function
        if config.authorizer_provisioned_concurrency > 0:
            authorizer_handler = lambda_.Alias(
                self, "AuthorizerLive", alias_name="live", version=self.authorizer.function.current_version,
                provisioned_concurrent_executions=config.authorizer_provisioned_concurrency,
            )

        self.api = ServiceApi(
            self, "Api", config=config, service=SERVICE,
            functions=[(f.spec, f.function) for f in self.functions.values()],
            authorizer_handler=authorizer_handler,
        )
        self.api.node.add_dependency(shared.api_gateway_account)

        # Migrations run on deploy, after the database and the proxy exist, and again whenever the
        # migrate function changes (the code asset holds migrations/, so a new migration is a change).
        self.migration_trigger = triggers.Trigger(
            self, "MigrateOnDeploy",
            handler=self.migrate.function,
            invocation_type=triggers.InvocationType.REQUEST_RESPONSE,
            timeout=Duration.seconds(MIGRATE.timeout_seconds + 30),
            execute_after=[shared.db_proxy],
            execute_on_handler_change=True,
        )
        # New code never serves traffic against an old schema: every other function and the API wait for it.
        for service_function in (self.authorizer, *self.functions.values(), *self.internal_functions.values()):
            service_function.function.node.add_dependency(self.migration_trigger)
        self.api.node.add_dependency(self.migration_trigger)
        for child in self.node.find_all():
            if child.node.id.startswith(("AWSCDK.TriggerCustomResourceProvider",
                                         "Custom::S3AutoDeleteObjectsCustomResourceProvider")):
                nag.suppress_cdk_provider(child)
