"""The LMS service: its functions (plus the platform authorizer, migrations and Kafka topics), its REST API.

The REST API also serves the notification service's routes (``api=LMS`` in
the catalogue); those functions use the notification database.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack, triggers
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from smartcourse.catalogue import (
    API_FUNCTIONS,
    AUTHORIZER,
    EVENT_FUNCTIONS,
    INTERNAL_FUNCTIONS,
    KAFKA_TOPICS,
    LMS_OUTBOX_PUBLISHER,
    MIGRATE,
    Function,
    Service,
)

from stacks import assets, nag
from stacks.constructs.event_cluster import KafkaTopics
from stacks.constructs.service_api import ServiceApi
from stacks.constructs.service_function import METRICS_NAMESPACE, ServiceFunction
from stacks.constructs.service_layers import service_layers
from stacks.constructs.storage_buckets import StorageBuckets
from stacks.shared_stack import SharedResources
from stacks.stage_config import StageConfig

SERVICE = Service.LMS
OUTBOX_FAILED_METRIC = "OutboxRowsFailed"  # emitted by the outbox publisher (Powertools Metrics)
OUTBOX_BROKER_DOWN_METRIC = "OutboxBrokerUnavailable"  # 1 per publisher run that found the broker unreachable
# Runs (schedule: one a minute, plus nudges) finding the broker down within 5 minutes before it is an incident.
OUTBOX_BROKER_DOWN_RUNS = 3


def _construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


class LmsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, shared: SharedResources,
                 local: bool = False, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config

        code = assets.function_code()
        self.dependencies_layer, self.shared_layer = service_layers(self, config=config, service=SERVICE, local=local)
        layers = [self.dependencies_layer, self.shared_layer]
        # Learning content (presigned uploads/downloads) and rendered certificates.
        self.storage = StorageBuckets(self, "Storage", config=config)

        def build(spec: Function, reserved: int | None) -> ServiceFunction:
            # Platform functions serve the LMS database; the others (notification routes) their own service's.
            database_service = SERVICE if spec.service is Service.PLATFORM else spec.service
            return ServiceFunction(
                self, _construct_id(spec.name), spec=spec, config=config, shared=shared, code=code, layers=layers,
                database_service=database_service, reserved_concurrency=reserved, buckets=self.storage.buckets,
                local=local,
            )

        self.functions: dict[str, ServiceFunction] = {}
        self.authorizer = build(AUTHORIZER, config.reserved_concurrency)
        self.migrate = build(MIGRATE, 1 if config.reserved_concurrency is not None else None)
        self.kafka_topics_function = build(KAFKA_TOPICS, None)
        for spec in API_FUNCTIONS[SERVICE]:
            self.functions[spec.name] = build(spec, config.reserved_concurrency)
        # Route-less functions other services invoke; callers get lambda:InvokeFunction when they are wired.
        self.internal_functions = {spec.name: build(spec, config.reserved_concurrency)
                                   for spec in INTERNAL_FUNCTIONS.get(SERVICE, ())}
        # Consumers (Kafka) are bounded by the topics' partitions; the outbox publisher, nudged after every
        # commit with events, by its own reserved concurrency.
        self.event_functions = {spec.name: build(spec, spec.reserved_concurrency)
                                for spec in EVENT_FUNCTIONS.get(SERVICE, ())}
        # A nudge is worth something only while it is fresh (the schedule fires every minute anyway): no
        # retries, and a throttled nudge is dropped after a minute instead of queueing for hours.
        self.event_functions[LMS_OUTBOX_PUBLISHER.name].function.configure_async_invoke(
            retry_attempts=0, max_event_age=Duration.seconds(60))

        # The event topics (MSK Serverless has no CloudFormation resource for them); this stack holds the code.
        self.topics = KafkaTopics(self, "KafkaTopics", config=config, handler=self.kafka_topics_function.function)
        for event_function in self.event_functions.values():
            for mapping in event_function.event_source_mappings:
                mapping.node.add_dependency(self.topics.resource)

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
        for service_function in (self.authorizer, *self.functions.values(), *self.internal_functions.values(),
                                 *self.event_functions.values()):
            service_function.function.node.add_dependency(self.migration_trigger)
        self.api.node.add_dependency(self.migration_trigger)

        self.alarms: list[cloudwatch.Alarm] = [a for f in self.event_functions.values() for a in f.alarms]
        if config.alarms:
            self.alarms.append(cloudwatch.Alarm(
                self, "OutboxRowsFailedAlarm",
                alarm_name=config.resource_name(f"{SERVICE}-outbox-rows-failed"),
                alarm_description=f"{SERVICE}: outbox rows gave up after their last publish attempt",
                metric=cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=OUTBOX_FAILED_METRIC,
                                         dimensions_map={"service": str(SERVICE)}, statistic="Sum",
                                         period=Duration.minutes(5)),
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ))
            self.alarms.append(cloudwatch.Alarm(
                self, "OutboxBrokerUnavailableAlarm",
                alarm_name=config.resource_name(f"{SERVICE}-outbox-broker-unavailable"),
                alarm_description=f"{SERVICE}: the outbox publisher cannot reach Kafka; events wait in the outbox",
                metric=cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=OUTBOX_BROKER_DOWN_METRIC,
                                         dimensions_map={"service": str(SERVICE)}, statistic="Sum",
                                         period=Duration.minutes(5)),
                threshold=OUTBOX_BROKER_DOWN_RUNS,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ))
        for child in self.node.find_all():
            if child.node.id.startswith(("AWSCDK.TriggerCustomResourceProvider",
                                         "Custom::S3AutoDeleteObjectsCustomResourceProvider")):
                nag.suppress_cdk_provider(child)
