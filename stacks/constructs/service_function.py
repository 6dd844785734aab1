"""One Lambda function built from its catalogue entry.

The function gets exactly what its :class:`~smartcourse.catalogue.Grant` set
asks for: read access to the exact secrets, ``rds-db:connect`` through the
proxy, VPC placement only when it talks to the database. Its role is written
here (no AWS managed policies): logs to its own log group, X-Ray, and, in a
VPC, the ENI actions Lambda needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from aws_cdk import CfnElement, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from smartcourse import catalogue
from smartcourse.catalogue import Grant, Service

from stacks import nag
from stacks.assets import ARCHITECTURE, FUNCTION_METADATA_KEY, RUNTIME
from stacks.constructs.storage_buckets import CERTIFICATE_PREFIX, CONTENT_PREFIX, Buckets
from stacks.shared_stack import SharedResources
from stacks.stage_config import StageConfig

METRICS_NAMESPACE = "SmartCourse"
SUPPORTED_GRANTS = frozenset({Grant.DATABASE, Grant.JWT_SIGNING_KEY, Grant.CONTENT_BUCKET, Grant.CERTIFICATE_BUCKET})
JWT_ISSUER = "smartcourse"
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


def database_name(service: Service) -> str:
    """``smartcourse_{service}``: one database per service."""
    return f"smartcourse_{service}"


def memory_for(spec: catalogue.Function, config: StageConfig) -> int:
    """The catalogue's size when the function asked for one, else the stage's default."""
    return config.default_memory_mb if spec.memory_mb == _CATALOGUE_DEFAULT_MEMORY else spec.memory_mb


def _cfn(bucket: s3.IBucket) -> CfnElement:
    cfn = bucket.node.default_child
    assert isinstance(cfn, CfnElement)
    return cfn


def _bucket_grants(spec: catalogue.Function,
                   buckets: Buckets | None) -> list[tuple[s3.IBucket, str, list[str], str]]:
    """(bucket, key prefix, object actions, environment variable) for each bucket grant of ``spec``."""
    wanted = [(Grant.CONTENT_BUCKET, CONTENT_PREFIX, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
               "CONTENT_BUCKET"),
              (Grant.CERTIFICATE_BUCKET, CERTIFICATE_PREFIX, ["s3:GetObject", "s3:PutObject"], "CERTIFICATE_BUCKET")]
    out = []
    for grant, prefix, actions, variable in wanted:
        if grant not in spec.grants:
            continue
        if buckets is None:
            raise ValueError(f"{spec.name}: grant {grant} needs the stack's buckets (ServiceFunction(buckets=...))")
        bucket = buckets.content if grant is Grant.CONTENT_BUCKET else buckets.certificates
        out.append((bucket, prefix, actions, variable))
    return out


class ServiceFunction(Construct):
    """A catalogue :class:`~smartcourse.catalogue.Function` as a Lambda function with least-privilege IAM.

    ``database_service`` is the service whose database the function uses: its
    own, except for platform functions, which serve the stack's service.
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
        database_service: Service,
        reserved_concurrency: int | None = None,
        buckets: Buckets | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        grants = spec.grants
        unsupported = grants - SUPPORTED_GRANTS
        if unsupported:
            # Fail the synth rather than deploy a function silently missing a permission it declares.
            raise ValueError(
                f"{spec.name}: grant(s) {', '.join(sorted(unsupported))} are not wired by the stacks yet "
                "(stacks/constructs/service_function.py)"
            )
        uses_db = Grant.DATABASE in grants
        bucket_grants = _bucket_grants(spec, buckets)
        function_name = config.resource_name(spec.name)

        self.log_group = logs.LogGroup(
            self, "Logs", log_group_name=f"/aws/lambda/{function_name}",
            retention=config.log_retention, removal_policy=config.removal_policy,
        )

        statements = [
            iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                resources=[self.log_group.log_group_arn]),
            iam.PolicyStatement(actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources=["*"]),
        ]
        if uses_db:
            statements.append(iam.PolicyStatement(actions=_ENI_ACTIONS, resources=["*"]))
        for bucket, prefix, actions, _ in bucket_grants:
            statements.append(iam.PolicyStatement(actions=actions, resources=[bucket.arn_for_objects(f"{prefix}*")]))
            # ListBucket (key names only) makes S3 answer 404, not 403, for a missing key: `storage.head`.
            statements.append(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
        self.role = iam.Role(
            self, "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{function_name}: {spec.description}"[:1000],
            inline_policies={"runtime": iam.PolicyDocument(statements=statements)},
        )
        nag.suppress(self.role, "AwsSolutions-IAM5",
                     "X-Ray PutTraceSegments/PutTelemetryRecords and the Lambda VPC ENI actions do not support "
                     "resource-level permissions; everything else in this role names exact resources.",
                     findings=["Resource::*"])
        if bucket_grants:
            nag.suppress(self.role, "AwsSolutions-IAM5",
                         "Object actions are limited to the key prefix the grant names (courses/ or certificates/) "
                         "of one bucket; object keys are per course/asset/certificate, unknown at deploy time.",
                         findings=[f"Resource::<{Stack.of(self).get_logical_id(_cfn(b))}.Arn>/{p}*"
                                   for b, p, _, _ in bucket_grants])

        environment = {
            "STAGE": config.name,
            "SERVICE_NAME": str(spec.service),
            "SMARTCOURSE_FUNCTION": spec.name,
            "POWERTOOLS_SERVICE_NAME": str(spec.service),
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": config.log_level,
            "DB_NAME": database_name(database_service),
            "JWT_ISSUER": JWT_ISSUER,
            "ACCESS_TOKEN_TTL_SECONDS": str(config.access_token_ttl_seconds),
        }
        if uses_db:
            shared.db_secret.grant_read(self.role)
            shared.db_proxy.grant_connect(self.role, shared.db_username)
            environment |= {
                "DB_SECRET_ARN": shared.db_secret.secret_arn,
                "DB_HOST": shared.db_proxy.endpoint,
                "DB_PORT": str(shared.db_port),
            }
        if Grant.JWT_SIGNING_KEY in grants:
            shared.jwt_secret.grant_read(self.role)
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
            vpc=shared.vpc if uses_db else None,
            vpc_subnets=shared.function_subnets if uses_db else None,
            security_groups=[shared.function_security_group] if uses_db else None,
        )
        # The role's policies must exist before Lambda validates VPC access / first invocations.
        self.function.node.add_dependency(self.role)
        cfn = self.function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        cfn.add_metadata(FUNCTION_METADATA_KEY, spec.name)
        nag.suppress(self.function, "AwsSolutions-L1",
                     "Python 3.12 is deliberate: the dependency layer is built for cp312 / arm64 and the runtime "
                     "is supported by Lambda; upgrades move the layer and runtime together.")

    @property
    def stack(self) -> Stack:
        return Stack.of(self)
