"""One service's stack, built from its catalogue: functions, their layers and code, queues, REST API, alarms.

Every service stack is this class (the LMS and notification stacks add their buckets and mail sender):

* its own code asset and its own two layers (dependencies from its lock, code from its package);
* a function per catalogue entry, with least-privilege IAM (:class:`ServiceFunction`);
* an SQS queue (with its dead-letter queue) for every queue its SQS triggers name;
* a DynamoDB table of ``Idempotency-Key`` records when it has a mutating route;
* its outbox publisher's async-invoke limits and alarms, when it writes events;
* its REST API when it has one (LMS, AI, analytics), behind the platform's authorizer (an LMS function,
  referenced by name elsewhere) and serving every function the registry routes to it, whichever service
  owns it (the notification routes are on the LMS API).

Functions of another stack are referenced by their deterministic names, never by CloudFormation
references, so no two service stacks reference each other; the app orders their deployment.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, NestedStack, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from smartcourse.catalogue import Function, Service
from smartcourse.observability import METRICS_NAMESPACE, SERVICE_DIMENSION
from smartcourse.outbox.metrics import OUTBOX_BROKER_UNAVAILABLE, OUTBOX_ROWS_FAILED
from smartcourse_lms.catalogue import AUTHORIZER

from stacks import assets, nag
from stacks.constructs.idempotency_table import idempotency_table, takes_idempotency_key
from stacks.constructs.service_api import ServiceApi
from stacks.constructs.service_function import (
    DLQ_RETENTION,
    LIVE_ALIAS,
    ServiceFunction,
    construct_id,
    dead_letter_alarm,
    function_arn,
    snap_started,
)
from stacks.constructs.service_layers import service_layers
from stacks.services import APIS, CATALOGUES, api_functions
from stacks.shared_resources import SharedResources
from stacks.stage_config import StageConfig

MAX_RECEIVE_COUNT = 5  # deliveries of an SQS message before it moves to the dead-letter queue
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS guidance for Lambda-polled queues: 6 x the function timeout
MIN_VISIBILITY_TIMEOUT_SECONDS = 30
# Runs (schedule: one a minute, plus nudges) finding the broker down within 5 minutes before it is an incident.
OUTBOX_BROKER_DOWN_RUNS = 3
AUTHORIZER_ALIAS = LIVE_ALIAS  # the same alias, whether it carries provisioned concurrency or SnapStart


class ServiceStack(Stack):
    def __init__(self, scope: Construct, stack_id: str, *, config: StageConfig, shared: SharedResources,
                 service: Service, local: bool = False, **kwargs: Any) -> None:
        super().__init__(scope, stack_id, **kwargs)
        self.config = config
        self.service = service
        self.shared = shared
        catalogue = CATALOGUES[service]
        has_api = service in APIS
        self.code = assets.function_code(str(service), api=str(service) if has_api else None)
        self.layers = list(service_layers(self, config=config, layer=str(service), local=local))
        self.alarms: list[cloudwatch.Alarm] = []

        # Queues named by SQS triggers, each with its dead-letter queue.
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for name in sorted({spec.sqs.queue for spec in catalogue.functions if spec.sqs is not None}):
            timeout = max(spec.timeout_seconds for spec in catalogue.functions
                          if spec.sqs is not None and spec.sqs.queue == name)
            self.queues[name] = self._queue(name, timeout)

        # Idempotency-Key records of the service's mutating routes.
        self.idempotency_table = (idempotency_table(self, config=config, service=service)
                                  if any(takes_idempotency_key(spec) for spec in catalogue.functions) else None)
        resources = self.function_resources()
        self.functions: dict[str, ServiceFunction] = {
            spec.name: ServiceFunction(
                self, construct_id(spec.name), spec=spec, config=config, shared=shared, code=self.code,
                layers=self.layers, reserved_concurrency=self._reserved_concurrency(spec), queues=self.queues,
                local=local, idempotency_table=self.idempotency_table, **resources,
            )
            for spec in catalogue.functions
        }
        self.alarms += [a for f in self.functions.values() for a in f.alarms]
        if catalogue.outbox_publisher is not None:
            self._outbox_publisher(catalogue.outbox_publisher)

        self.api: ServiceApi | None = None
        if has_api:
            self.api = self._api()
            self.api.node.add_dependency(shared.api_gateway_account)
        for child in self.node.find_all():
            if child.node.id.startswith("Custom::S3AutoDeleteObjectsCustomResourceProvider"):
                nag.suppress_cdk_provider(child)

    # --- hooks --------------------------------------------------------------------------------------------------

    def function_resources(self) -> dict[str, Any]:
        """Extra resources the service's functions are granted (``ServiceFunction`` keyword arguments)."""
        return {}

    # --- parts --------------------------------------------------------------------------------------------------

    def _reserved_concurrency(self, spec: Function) -> int | None:
        """The function's own cap, else the stage's cap for request-serving functions (routes, direct invokes).

        Consumers are bounded by their topics' partitions and SQS workers by their mappings; they take none.
        """
        if spec.reserved_concurrency is not None:
            return spec.reserved_concurrency
        triggered = spec.kafka is not None or spec.sqs is not None or spec.schedule is not None
        return None if triggered else self.config.reserved_concurrency

    def _queue(self, name: str, function_timeout_seconds: int) -> sqs.Queue:
        config = self.config
        queue_id = construct_id(name)
        dead_letters = sqs.Queue(
            self, f"{queue_id}DeadLetterQueue",
            queue_name=config.resource_name(f"{name}-dlq"),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
            removal_policy=config.removal_policy,
        )
        nag.suppress(dead_letters, "AwsSolutions-SQS3",
                     f"This queue is the dead-letter queue of {config.resource_name(name)}.")
        self.dead_letter_queues[name] = dead_letters
        if config.alarms:
            self.alarms.append(dead_letter_alarm(self, f"{queue_id}DeadLetterAlarm", dead_letters,
                                                 config.resource_name(f"{name}-dlq")))
        visibility = max(MIN_VISIBILITY_TIMEOUT_SECONDS, VISIBILITY_TIMEOUT_FACTOR * function_timeout_seconds)
        return sqs.Queue(
            self, f"{queue_id}Queue",
            queue_name=config.resource_name(name),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=MAX_RECEIVE_COUNT),
            removal_policy=config.removal_policy,
        )

    def _outbox_publisher(self, publisher: Function) -> None:
        # A nudge is worth something only while it is fresh (the schedule fires every minute anyway): no
        # retries, and a throttled nudge is dropped after a minute instead of queueing for hours.
        self.functions[publisher.name].function.configure_async_invoke(
            retry_attempts=0, max_event_age=Duration.seconds(60))
        if not self.config.alarms:
            return
        service = str(self.service)

        def metric(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=name,
                                     dimensions_map={SERVICE_DIMENSION: service}, statistic="Sum",
                                     period=Duration.minutes(5))

        self.alarms.append(cloudwatch.Alarm(
            self, "OutboxRowsFailedAlarm",
            alarm_name=self.config.resource_name(f"{service}-outbox-rows-failed"),
            alarm_description=f"{service}: outbox rows gave up after their last publish attempt",
            metric=metric(OUTBOX_ROWS_FAILED),
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ))
        self.alarms.append(cloudwatch.Alarm(
            self, "OutboxBrokerUnavailableAlarm",
            alarm_name=self.config.resource_name(f"{service}-outbox-broker-unavailable"),
            alarm_description=f"{service}: the outbox publisher cannot reach Kafka; events wait in the outbox",
            metric=metric(OUTBOX_BROKER_UNAVAILABLE),
            threshold=OUTBOX_BROKER_DOWN_RUNS,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ))

    def _imported_function(self, scope: Construct, name: str, qualifier: str | None = None) -> lambda_.IFunction:
        """Another stack's function by its deterministic name (``same_environment``: permissions are added here)."""
        arn = function_arn(self, self.config.resource_name(name))
        return lambda_.Function.from_function_attributes(
            scope, f"{construct_id(name)}Ref", function_arn=f"{arn}:{qualifier}" if qualifier else arn,
            same_environment=True,
        )

    def _authorizer_handler(self, scope: Construct) -> lambda_.IFunction:
        provisioned = self.config.authorizer_provisioned_concurrency > 0
        own = self.functions.get(AUTHORIZER.name)
        if own is None:
            aliased = provisioned or snap_started(AUTHORIZER, self.config)
            return self._imported_function(scope, AUTHORIZER.name, AUTHORIZER_ALIAS if aliased else None)
        if not provisioned:
            return own.target
        return lambda_.Alias(
            self, "AuthorizerLive", alias_name=AUTHORIZER_ALIAS, version=own.function.current_version,
            provisioned_concurrent_executions=self.config.authorizer_provisioned_concurrency,
        )

    def _api(self) -> ServiceApi:
        # The API (resources, methods, deployment, stage, authorizers, permissions) lives in a nested stack of
        # this stack: CloudFormation counts it apart, so a service with many routes stays far from 500.
        container = NestedStack(self, "ApiStack", description=f"SmartCourse ({self.config.name}): {self.service} API")
        authorizer = self._authorizer_handler(container)
        routed: list[tuple[Function, lambda_.IFunction]] = []
        for spec in api_functions(self.service):
            own = self.functions.get(spec.name)
            qualifier = LIVE_ALIAS if snap_started(spec, self.config) else None
            routed.append((spec, own.target if own is not None
                           else self._imported_function(container, spec.name, qualifier)))
        return ServiceApi(container, "Api", config=self.config, service=self.service, functions=routed,
                          authorizer_handler=authorizer)
