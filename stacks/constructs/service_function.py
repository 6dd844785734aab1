"""One Lambda function built from its catalogue entry.

The function gets exactly what its :class:`~smartcourse.catalogue.Grant` set
asks for: read access to the exact secrets, ``rds-db:connect`` through the
proxy, the event cluster's exact topics, one queue, one SES identity, one
function to invoke; VPC placement only when it talks to the database or to
Kafka. Its role is written here, as one inline policy (no AWS managed
policies, no separate policy resources): logs to its own log group, X-Ray,
and, in a VPC, the ENI actions Lambda needs. Its triggers are wired here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, CfnElement, Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from smartcourse import catalogue
from smartcourse.catalogue import Grant
from smartcourse.db.names import database_name, role_name
from smartcourse.observability import METRICS_NAMESPACE
from smartcourse_ai.catalogue import INDEX_QUEUE
from smartcourse_analytics.catalogue import REPORT_QUEUE
from smartcourse_events.topics import ALL_TOPICS
from smartcourse_lms.catalogue import AUTHORIZER
from smartcourse_notification.catalogue import SEND_QUEUE

from stacks import nag, services
from stacks.assets import ARCHITECTURE, FUNCTION_METADATA_KEY, RUNTIME
from stacks.constructs.analytics_buckets import ARCHIVE_PREFIX, REPORTS_PREFIX, AnalyticsStorage
from stacks.constructs.event_cluster import EventBackbone
from stacks.constructs.idempotency_table import TABLE_ACTIONS, TABLE_VARIABLE, takes_idempotency_key
from stacks.constructs.storage_buckets import CERTIFICATE_PREFIX, CONTENT_PREFIX, Buckets
from stacks.shared_resources import SharedResources
from stacks.stage_config import StageConfig

SUPPORTED_GRANTS = frozenset(Grant)
KAFKA_GRANTS = frozenset({Grant.KAFKA_PRODUCE, Grant.KAFKA_TOPICS})
DLQ_RETENTION = Duration.days(14)
SCHEDULE_RETRY_ATTEMPTS = 2
SCHEDULE_MAX_EVENT_AGE = Duration.minutes(5)
JWT_ISSUER = "smartcourse"
# With SnapStart, what invokes a function (API Gateway, the authorizers, event source mappings, schedules) invokes
# this alias of its latest published version: snapshots are taken of versions, never of $LATEST.
LIVE_ALIAS = "live"
_CATALOGUE_DEFAULT_MEMORY = next(f.default for f in dataclasses.fields(catalogue.Function) if f.name == "memory_mb")

# Lambda needs these to attach to a VPC; EC2 does not support resource-level permissions for them.
_ENI_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


# Lambda polls MSK from ENIs of its own in the cluster's subnets: the execution role creates them.
_KAFKA_ESM_ENI_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
]


@dataclass(frozen=True)
class ImportedBucket:
    """A bucket of another stack, by the name it exports, and how cdk-nag spells its object ARNs."""

    name: str
    nag_name: str  # the logical id of what holds the name (cdk-nag's findings spell it <id>)


@dataclass(frozen=True)
class AiProvider:
    """The configured OpenAI-compatible endpoint: its key's secret and the settings that select it."""

    secret: secretsmanager.ISecret
    environment: Mapping[str, str]


@dataclass(frozen=True)
class MailSender:
    """The stage's SES sender: the verified identity's ARN and the From address."""

    identity_arn: str
    address: str


def construct_id(name: str) -> str:
    """``lms-auth-register`` -> ``LmsAuthRegister``."""
    return "".join(part.capitalize() for part in name.split("-"))


def snap_started(spec: catalogue.Function, config: StageConfig) -> bool:
    """Whether ``spec`` runs with Lambda SnapStart in ``config``'s stage: the functions a request or an event
    waits on (routes, the authorizer, Kafka and SQS consumers), unless provisioned concurrency keeps them warm
    (the authorizer's, when the stage sets it: Lambda takes one or the other)."""
    if not config.snap_start:
        return False
    if spec.name == AUTHORIZER.name:
        return config.authorizer_provisioned_concurrency == 0
    return bool(spec.routes) or spec.kafka is not None or spec.sqs is not None


def memory_for(spec: catalogue.Function, config: StageConfig) -> int:
    """The catalogue's size when the function asked for one, else the stage's default."""
    return config.default_memory_mb if spec.memory_mb == _CATALOGUE_DEFAULT_MEMORY else spec.memory_mb


def function_arn(scope: Construct, function_name: str) -> str:
    """A function's ARN from its deterministic name: no reference, so no stack dependency or cycle."""
    return Stack.of(scope).format_arn(service="lambda", resource="function", resource_name=function_name,
                                      arn_format=ArnFormat.COLON_RESOURCE_NAME)


def _db_user_arn(scope: Construct, proxy_arn: str, user: str) -> str:
    """``rds-db:connect`` resource of ``user`` through the proxy (as ``DatabaseProxy.grant_connect`` builds it)."""
    proxy_resource_id = Fn.select(6, Fn.split(":", proxy_arn))
    return Stack.of(scope).format_arn(service="rds-db", resource="dbuser",
                                      resource_name=Fn.join("/", [proxy_resource_id, user]),
                                      arn_format=ArnFormat.COLON_RESOURCE_NAME)


def consumer_group(function_name: str, topic: str) -> str:
    """The Kafka consumer group of one event source mapping (Lambda wants one group per mapping)."""
    return f"{function_name}.{topic}"


def _cfn(bucket: s3.IBucket) -> CfnElement:
    cfn = bucket.node.default_child
    assert isinstance(cfn, CfnElement)
    return cfn


# Grants on a bucket of the function's own stack: (key prefix, object actions, environment variable).
# Object actions stay under the prefix; s3:ListBucket on the bucket comes with each.
BUCKET_GRANTS: dict[Grant, tuple[str, tuple[str, ...], str]] = {
    Grant.CONTENT_BUCKET: (CONTENT_PREFIX, ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"), "CONTENT_BUCKET"),
    Grant.CERTIFICATE_BUCKET: (CERTIFICATE_PREFIX, ("s3:GetObject", "s3:PutObject"), "CERTIFICATE_BUCKET"),
    # Build a report (the builder writes it and never reads it back).
    Grant.ANALYTICS_REPORTS_BUCKET: (REPORTS_PREFIX, ("s3:PutObject",), "REPORTS_BUCKET"),
    # Presign a report's download (a presigned GET is the function's own GetObject).
    Grant.ANALYTICS_REPORTS_READ: (REPORTS_PREFIX, ("s3:GetObject",), "REPORTS_BUCKET"),
    # Write events; no read, no delete: the archive only grows (the replay reads it with its own grant).
    Grant.EVENT_ARCHIVE: (ARCHIVE_PREFIX, ("s3:PutObject",), "ARCHIVE_BUCKET"),
    Grant.EVENT_ARCHIVE_READ: (ARCHIVE_PREFIX, ("s3:GetObject",), "ARCHIVE_BUCKET"),
}


def _granted_bucket(spec: catalogue.Function, grant: Grant, buckets: Buckets | None,
                    analytics_storage: AnalyticsStorage | None) -> s3.IBucket:
    if grant in (Grant.CONTENT_BUCKET, Grant.CERTIFICATE_BUCKET):
        if buckets is None:
            raise ValueError(f"{spec.name}: grant {grant} needs the stack's buckets (ServiceFunction(buckets=...))")
        return buckets.content if grant is Grant.CONTENT_BUCKET else buckets.certificates
    if analytics_storage is None:
        raise ValueError(f"{spec.name}: grant {grant} needs the analytics buckets "
                         "(ServiceFunction(analytics_storage=...))")
    reports = grant in (Grant.ANALYTICS_REPORTS_BUCKET, Grant.ANALYTICS_REPORTS_READ)
    return analytics_storage.reports if reports else analytics_storage.archive


def _bucket_grants(spec: catalogue.Function, buckets: Buckets | None,
                   analytics_storage: AnalyticsStorage | None) -> list[tuple[s3.IBucket, str, list[str], str]]:
    """(bucket, key prefix, object actions, environment variable) for each bucket grant of ``spec``."""
    out = []
    for grant, (prefix, actions, variable) in BUCKET_GRANTS.items():
        if grant in spec.grants:
            out.append((_granted_bucket(spec, grant, buckets, analytics_storage), prefix, list(actions), variable))
    return out


class ServiceFunction(Construct):
    """A catalogue :class:`~smartcourse.catalogue.Function` as a Lambda function with least-privilege IAM.

    A function with ``Grant.DATABASE`` connects to its own service's database as
    its service's login role (that role's secret is the only one it may read).
    Triggers are wired here too: one MSK event source mapping per Kafka topic
    (with a dead-letter queue the consumer writes failed records to), an SQS
    event source for a queue in ``queues``, an EventBridge Scheduler schedule.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: catalogue.Function,
        config: StageConfig,
        shared: SharedResources,
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion],
        reserved_concurrency: int | None = None,
        buckets: Buckets | None = None,
        queues: Mapping[str, sqs.IQueue] | None = None,
        mail: MailSender | None = None,
        content_bucket: ImportedBucket | None = None,
        ai_provider: AiProvider | None = None,
        analytics_storage: AnalyticsStorage | None = None,
        local: bool = False,
        idempotency_table: dynamodb.ITable | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.config = config
        grants = spec.grants
        unsupported = grants - SUPPORTED_GRANTS
        if unsupported:
            # Fail the synth rather than deploy a function silently missing a permission it declares.
            raise ValueError(
                f"{spec.name}: grant(s) {', '.join(sorted(unsupported))} are not wired by the stacks yet "
                "(stacks/constructs/service_function.py)"
            )
        uses_db = Grant.DATABASE in grants
        admin_db = Grant.DATABASE_ADMIN in grants
        uses_kafka = bool(grants & KAFKA_GRANTS)
        in_vpc = uses_db or admin_db or uses_kafka
        events = shared.events
        bucket_grants = _bucket_grants(spec, buckets, analytics_storage)
        function_name = config.resource_name(spec.name)
        self.function_name = function_name
        self.dead_letter_queue: sqs.Queue | None = None
        self.alarms: list[cloudwatch.Alarm] = []

        self.log_group = logs.LogGroup(
            self, "Logs", log_group_name=f"/aws/lambda/{function_name}",
            retention=config.log_retention, removal_policy=config.removal_policy,
        )

        statements = [
            iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                resources=[self.log_group.log_group_arn]),
            iam.PolicyStatement(actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources=["*"]),
        ]
        wildcard_reasons = ["X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions"]
        if in_vpc:
            statements.append(iam.PolicyStatement(actions=_ENI_ACTIONS, resources=["*"]))
            wildcard_reasons.append("nor do the Lambda VPC ENI actions")
        for bucket, prefix, actions, _ in bucket_grants:
            statements.append(iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects(f"{prefix}*")]))
            # ListBucket (key names only) makes S3 answer 404, not 403, for a missing key: `storage.head`.
            statements.append(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))

        environment = {
            "STAGE": config.name,
            "SERVICE_NAME": str(spec.service),
            "SMARTCOURSE_FUNCTION": spec.name,
            "POWERTOOLS_SERVICE_NAME": str(spec.service),
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": config.log_level,
            "JWT_ISSUER": JWT_ISSUER,
            "ACCESS_TOKEN_TTL_SECONDS": str(config.access_token_ttl_seconds),
            "APP_BASE_URL": config.app_base_url,
            "PUBLIC_BASE_URL": config.public_base_url,
            "ANALYTICS_BASE_URL": config.analytics_base_url,
        }

        # Written into the inline policy rather than through secret.grant_read / proxy.grant_connect, which
        # would add an AWS::IAM::Policy resource per function (a test keeps every stack under 300 resources).
        secret_arns: list[str] = []
        if uses_db:
            # Its own service's role only: no function can reach another service's database.
            db_secret = shared.db_secrets[spec.service]
            secret_arns.append(db_secret.secret_arn)
            statements.append(iam.PolicyStatement(actions=["rds-db:connect"], resources=[
                _db_user_arn(self, shared.db_proxy.db_proxy_arn, role_name(spec.service))]))
            environment |= {"DB_SECRET_ARN": db_secret.secret_arn, "DB_NAME": database_name(spec.service)}
        if admin_db:
            # The migrate function: the master credentials, and every service's secret to set its role's password.
            secret_arns += [shared.db_master_secret.secret_arn, *(s.secret_arn for s in shared.db_secrets.values())]
            statements.append(iam.PolicyStatement(actions=["rds-db:connect"], resources=[
                _db_user_arn(self, shared.db_proxy.db_proxy_arn, shared.db_master_username)]))
            environment |= {
                "DB_SECRET_ARN": shared.db_master_secret.secret_arn,
                "DB_SERVICE_SECRET_ARNS": Stack.of(self).to_json_string(
                    {str(service): secret.secret_arn for service, secret in shared.db_secrets.items()}),
            }
        if Grant.JWT_SIGNING_KEY in grants:
            secret_arns.append(shared.jwt_secret.secret_arn)
        if secret_arns:
            statements.append(iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], resources=secret_arns))

        # --- event backbone ------------------------------------------------------------------------------------
        if uses_kafka or spec.kafka is not None:
            environment |= {
                "KAFKA_BOOTSTRAP_SERVERS": events.bootstrap_servers,
                # The local cloud's broker speaks plaintext; MSK only takes IAM-signed clients.
                "KAFKA_AUTH": "plaintext" if local else "iam",
            }
        if Grant.KAFKA_PRODUCE in grants:
            statements += [
                iam.PolicyStatement(actions=["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"],
                                    resources=[events.cluster_arn]),
                iam.PolicyStatement(actions=["kafka-cluster:WriteData", "kafka-cluster:DescribeTopic"],
                                    resources=[events.topic_arn(t) for t in ALL_TOPICS]),
            ]
        if Grant.KAFKA_TOPICS in grants:
            statements += [
                iam.PolicyStatement(actions=["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"],
                                    resources=[events.cluster_arn]),
                iam.PolicyStatement(actions=["kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic"],
                                    resources=[events.topic_arn(t) for t in ALL_TOPICS]),
            ]
        if spec.kafka is not None:
            self.dead_letter_queue = self._dead_letter_queue(config, function_name)
            statements += self._kafka_consumer_statements(events, function_name, spec.kafka.topics)
            statements.append(iam.PolicyStatement(actions=["sqs:SendMessage"],
                                                  resources=[self.dead_letter_queue.queue_arn]))
            environment["CONSUMER_DLQ_URL"] = self.dead_letter_queue.queue_url
            wildcard_reasons.append("nor do the EC2 actions an MSK event source mapping needs for its ENIs")
        if Grant.OUTBOX_NUDGE in grants:
            publisher = services.outbox_publisher(spec.service)
            if publisher is None:
                raise ValueError(f"{spec.name}: grant {Grant.OUTBOX_NUDGE} but {spec.service} has no outbox publisher")
            publisher_name = config.resource_name(publisher.name)
            statements.append(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                  resources=[function_arn(self, publisher_name)]))
            environment["OUTBOX_PUBLISHER_FUNCTION"] = publisher_name

        # --- notifications -------------------------------------------------------------------------------------
        if Grant.NOTIFICATION_QUEUE in grants:
            send_queue = self._queue(queues, SEND_QUEUE)
            statements.append(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[send_queue.queue_arn]))
            environment["NOTIFICATION_QUEUE_URL"] = send_queue.queue_url
        if Grant.EMAIL in grants:
            if mail is None:
                raise ValueError(f"{spec.name}: grant {Grant.EMAIL} needs the stage's sender "
                                 "(ServiceFunction(mail=...))")
            statements.append(iam.PolicyStatement(actions=["ses:SendEmail", "ses:SendRawEmail"],
                                                  resources=[mail.identity_arn]))
            environment["MAIL_FROM"] = mail.address
        if Grant.SMS in grants:
            statements += [
                iam.PolicyStatement(actions=["sns:Publish", "sns:CheckIfPhoneNumberIsOptedOut"], resources=["*"]),
                # Publishing to a phone number has no resource; this keeps the "*" above off topics and endpoints.
                iam.PolicyStatement(effect=iam.Effect.DENY, actions=["sns:Publish"],
                                    resources=[Stack.of(self).format_arn(
                                        service="sns", region="*", account="*", resource="*",
                                        arn_format=ArnFormat.NO_RESOURCE_NAME)]),
            ]
            wildcard_reasons.append("nor do SMS publishes to phone numbers and the opt-out check (SNS has no "
                                    "resource for them; publishing to topics/endpoints is denied)")
        # --- AI ------------------------------------------------------------------------------------------------
        if Grant.AI_INDEX_QUEUE in grants:
            index_queue = self._queue(queues, INDEX_QUEUE)
            statements.append(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[index_queue.queue_arn]))
            environment["AI_INDEX_QUEUE_URL"] = index_queue.queue_url
        if Grant.CONTENT_READ in grants:
            if content_bucket is None:
                raise ValueError(f"{spec.name}: grant {Grant.CONTENT_READ} needs the content bucket (content_bucket=)")
            bucket_arn = Stack.of(self).format_arn(service="s3", region="", account="", resource=content_bucket.name,
                                                   arn_format=ArnFormat.NO_RESOURCE_NAME)
            statements += [
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"{bucket_arn}/{CONTENT_PREFIX}*"]),
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket_arn]),
            ]
            environment["CONTENT_BUCKET"] = content_bucket.name
        if Grant.SAVE_QUIZ in grants:
            saver_name = config.resource_name(services.function("lms-assets-save-quiz").name)
            statements.append(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                  resources=[function_arn(self, saver_name)]))
            environment["AI_SAVE_QUIZ_FUNCTION"] = saver_name
        if Grant.AI_PROVIDER_KEY in grants and ai_provider is not None:
            statements.append(iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[ai_provider.secret.secret_arn]))
            environment |= ai_provider.environment
        if Grant.ISSUE_ONE_TIME_TOKEN in grants:
            issuer_name = config.resource_name(services.function("lms-auth-issue-one-time-token").name)
            statements.append(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                  resources=[function_arn(self, issuer_name)]))
            environment["TOKEN_ISSUER_FUNCTION"] = issuer_name

        # --- analytics -----------------------------------------------------------------------------------------
        if Grant.ANALYTICS_REPORT_QUEUE in grants:
            report_queue = self._queue(queues, REPORT_QUEUE)
            statements.append(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[report_queue.queue_arn]))
            environment["ANALYTICS_REPORT_QUEUE_URL"] = report_queue.queue_url
        # (The reports bucket and the event archive: BUCKET_GRANTS.)

        # --- Idempotency-Key records (a mutating route: smartcourse.idempotency) ----------------------------------
        if takes_idempotency_key(spec):
            if idempotency_table is None:
                raise ValueError(f"{spec.name}: a mutating route needs its service's idempotency table "
                                 "(ServiceFunction(idempotency_table=...))")
            statements.append(iam.PolicyStatement(actions=list(TABLE_ACTIONS),
                                                  resources=[idempotency_table.table_arn]))
            environment[TABLE_VARIABLE] = idempotency_table.table_name

        # --- SQS trigger ---------------------------------------------------------------------------------------
        trigger_queue: sqs.IQueue | None = None
        if spec.sqs is not None:
            trigger_queue = self._queue(queues, spec.sqs.queue)
            redrive = trigger_queue.dead_letter_queue if isinstance(trigger_queue, sqs.Queue) else None
            if redrive is not None and redrive.max_receive_count is not None:
                # The function marks a message's last delivery itself (e.g. a send as failed) before SQS moves it.
                environment["TRIGGER_QUEUE_MAX_RECEIVES"] = str(redrive.max_receive_count)
            environment["TRIGGER_QUEUE_URL"] = trigger_queue.queue_url  # ChangeMessageVisibility, granted below
            statements.append(iam.PolicyStatement(
                actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                         "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"],
                resources=[trigger_queue.queue_arn],
            ))

        self.role = iam.Role(
            self, "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{function_name}: {spec.description}"[:1000],
            inline_policies={"runtime": iam.PolicyDocument(statements=statements)},
        )
        nag.suppress(self.role, "AwsSolutions-IAM5",
                     "; ".join(wildcard_reasons) + ". Everything else in this role names exact resources.",
                     findings=["Resource::*"])
        if bucket_grants:
            nag.suppress(self.role, "AwsSolutions-IAM5",
                         "Object actions are limited to the key prefix the grant names (courses/, certificates/, "
                         "reports/ or events/) of one bucket; object keys are per course/asset/certificate/report "
                         "or topic/date, unknown at deploy time.",
                         findings=[f"Resource::<{Stack.of(self).get_logical_id(_cfn(b))}.Arn>/{p}*"
                                   for b, p, _, _ in bucket_grants])
        if Grant.CONTENT_READ in grants and content_bucket is not None:
            nag.suppress(self.role, "AwsSolutions-IAM5",
                         "Read-only, limited to the courses/ prefix of the LMS's content bucket: article keys are "
                         "per course/module/asset, unknown at deploy time.",
                         findings=[f"Resource::arn:<AWS::Partition>:s3:::<{content_bucket.nag_name}>/{CONTENT_PREFIX}*"])
        if Grant.SMS in grants:
            nag.suppress(self.role, "AwsSolutions-IAM5",
                         "A Deny: it keeps sns:Publish off every topic and platform endpoint (SMS only).",
                         findings=["Resource::arn:<AWS::Partition>:sns:*:*:*"])

        if uses_db or admin_db:
            environment |= {
                "DB_HOST": shared.db_proxy.endpoint,
                "DB_PORT": str(shared.db_port),
            }
        if Grant.JWT_SIGNING_KEY in grants:
            environment["JWT_SECRET_ARN"] = shared.jwt_secret.secret_arn
        for bucket, _, _, variable in bucket_grants:
            environment[variable] = bucket.bucket_name

        self.function = lambda_.Function(
            self, "Function",
            function_name=function_name,
            description=spec.description[:256],
            code=code,
            handler=spec.handler,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            memory_size=memory_for(spec, config),
            timeout=Duration.seconds(spec.timeout_seconds),
            layers=list(layers),
            environment=environment,
            # The role is complete as written above; CDK must not add managed policies or statements to it.
            role=self.role.without_policy_updates(),
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=reserved_concurrency,
            vpc=shared.vpc if in_vpc else None,
            vpc_subnets=shared.function_subnets if in_vpc else None,
            security_groups=[shared.function_security_group] if in_vpc else None,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_started(spec, config) else None,
        )
        # The role's policies must exist before Lambda validates VPC access / first invocations.
        self.function.node.add_dependency(self.role)
        cfn = self.function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        cfn.add_metadata(FUNCTION_METADATA_KEY, spec.name)
        nag.suppress(self.function, "AwsSolutions-L1",
                     "Python 3.12 is deliberate: the dependency layer is built for cp312 / arm64 and the runtime "
                     "is supported by Lambda; upgrades move the layer and runtime together.")
        # What triggers invoke: the "live" alias with SnapStart (a new version is published when the function
        # changes), else the function itself ($LATEST, as the local runner runs it).
        self.alias: lambda_.Alias | None = None
        self.target: lambda_.IFunction = self.function
        if snap_started(spec, config):
            self.alias = lambda_.Alias(self, "Live", alias_name=LIVE_ALIAS, version=self.function.current_version)
            self.target = self.alias
        mapped_name = self.alias.function_arn if self.alias is not None else self.function.function_name

        self.event_source_mappings: list[lambda_.CfnEventSourceMapping] = []
        if spec.kafka is not None:
            for topic in spec.kafka.topics:
                mapping = lambda_.CfnEventSourceMapping(
                    self, f"Kafka{_pascal(topic)}",
                    function_name=mapped_name,
                    event_source_arn=events.cluster_arn,
                    topics=[topic],
                    starting_position=spec.kafka.starting_position,
                    batch_size=spec.kafka.batch_size,
                    amazon_managed_kafka_event_source_config=(
                        lambda_.CfnEventSourceMapping.AmazonManagedKafkaEventSourceConfigProperty(
                            consumer_group_id=consumer_group(function_name, topic))),
                )
                mapping.node.add_dependency(self.role)
                self.event_source_mappings.append(mapping)
        if spec.sqs is not None and trigger_queue is not None:
            mapping = lambda_.CfnEventSourceMapping(
                self, "Queue",
                function_name=mapped_name,
                event_source_arn=trigger_queue.queue_arn,
                batch_size=spec.sqs.batch_size,
                function_response_types=["ReportBatchItemFailures"] if spec.sqs.report_batch_item_failures else None,
            )
            mapping.node.add_dependency(self.role)
            self.event_source_mappings.append(mapping)
        self.schedule: scheduler.CfnSchedule | None = None
        if spec.schedule is not None:
            self.schedule = self._schedule(config, function_name, spec.schedule.expression)

    # --- helpers ------------------------------------------------------------------------------------------------

    def _queue(self, queues: Mapping[str, sqs.IQueue] | None, name: str) -> sqs.IQueue:
        if queues is None or name not in queues:
            raise ValueError(f"{self.spec.name}: queue {name!r} is not declared by the stack "
                             "(ServiceFunction(queues=...))")
        return queues[name]

    def _dead_letter_queue(self, config: StageConfig, function_name: str) -> sqs.Queue:
        queue = sqs.Queue(
            self, "DeadLetterQueue",
            queue_name=f"{function_name}-dlq",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
            removal_policy=config.removal_policy,
        )
        nag.suppress(queue, "AwsSolutions-SQS3",
                     "This queue is itself a dead-letter queue: the consumer sends the records it gave up on here.")
        if config.alarms:
            self.alarms.append(dead_letter_alarm(self, "DeadLetterAlarm", queue, f"{function_name}-dlq"))
        return queue

    def _kafka_consumer_statements(self, events: EventBackbone, function_name: str,
                                   topics: Sequence[str]) -> list[iam.PolicyStatement]:
        """What an MSK event source mapping needs from the function's execution role (IAM auth)."""
        return [
            iam.PolicyStatement(actions=["kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration",
                                         "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"],
                                resources=[events.cluster_arn]),
            iam.PolicyStatement(actions=["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"],
                                resources=[events.topic_arn(t) for t in topics]),
            iam.PolicyStatement(actions=["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"],
                                resources=[events.group_arn(consumer_group(function_name, t)) for t in topics]),
            iam.PolicyStatement(actions=_KAFKA_ESM_ENI_ACTIONS, resources=["*"]),
        ]

    def _schedule(self, config: StageConfig, function_name: str, expression: str) -> scheduler.CfnSchedule:
        stack = Stack.of(self)
        role = iam.Role(
            self, "ScheduleRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com", conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
            }),
            description=f"EventBridge Scheduler: invokes {function_name} only",
            inline_policies={"invoke": iam.PolicyDocument(statements=[
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.target.function_arn]),
            ])},
        )
        return scheduler.CfnSchedule(
            self, "Schedule",
            name=function_name,
            description=f"Runs {function_name}: {expression}",
            schedule_expression=expression,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.target.function_arn,
                role_arn=role.role_arn,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=SCHEDULE_RETRY_ATTEMPTS,
                    maximum_event_age_in_seconds=int(SCHEDULE_MAX_EVENT_AGE.to_seconds()),
                ),
            ),
        )

    @property
    def stack(self) -> Stack:
        return Stack.of(self)


def dead_letter_alarm(scope: Construct, construct_id: str, queue: sqs.IQueue, name: str) -> cloudwatch.Alarm:
    """Any message in a dead-letter queue is a failure someone has to look at."""
    return cloudwatch.Alarm(
        scope, construct_id,
        alarm_name=f"{name}-not-empty",
        alarm_description=f"{name}: messages waiting in a dead-letter queue",
        metric=queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(5), statistic="Maximum"),
        threshold=0,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def _pascal(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace(".", "-").replace("_", "-").split("-") if part)
