"""Shared infrastructure of a stage: network, database cluster and proxy, secrets, the event cluster.

It also holds the platform functions that prepare both for the services, on deploy: ``platform-migrate``
(each service's database and login role, grants, migrations — the only user of the master secret) and
``platform-kafka-topics`` (the event topics). Service stacks deploy after it, so they never serve against
an old schema or missing topics.

Service stacks receive :class:`SharedResources` through their constructor
(object references, resolved by CDK into cross-stack references), never
through hand-written CloudFormation exports.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack, triggers
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from smartcourse.catalogue import KAFKA_TOPICS, MIGRATE, Service
from smartcourse.db.names import database_name, role_name

from stacks import assets, nag
from stacks.constructs.event_cluster import EventCluster, KafkaTopics
from stacks.constructs.service_function import ServiceFunction, construct_id
from stacks.constructs.service_layers import service_layers
from stacks.services import CATALOGUES
from stacks.shared_resources import SharedResources
from stacks.stage_config import StageConfig

DB_USERNAME = "smartcourse_admin"
# The database the cluster was created with (changing it would replace the cluster); the migrate function
# creates the other services' databases.
DB_DEFAULT_DATABASE = database_name(Service.LMS)
PROXY_PORT = 5432  # RDS Proxy for PostgreSQL always listens on 5432
AURORA_POSTGRES_VERSION = rds.AuroraPostgresEngineVersion.VER_16_6


class SharedStack(Stack):
    def __init__(self, scope: Construct, stack_id: str, *, config: StageConfig, local: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(scope, stack_id, **kwargs)
        self.config = config

        vpc = self._network()
        function_sg = ec2.SecurityGroup(
            self, "FunctionSecurityGroup", vpc=vpc, allow_all_outbound=True,
            description="SmartCourse Lambda functions (egress to RDS Proxy, AWS APIs, Kafka)",
        )
        proxy_sg = ec2.SecurityGroup(self, "ProxySecurityGroup", vpc=vpc, allow_all_outbound=False,
                                     description="SmartCourse RDS Proxy")
        db_sg = ec2.SecurityGroup(self, "DatabaseSecurityGroup", vpc=vpc, allow_all_outbound=False,
                                  description="SmartCourse Aurora PostgreSQL cluster")

        cluster = self._database(vpc, db_sg)
        assert cluster.secret is not None  # generated credentials always create one
        # One login role per service, each with its own secret (RDS's JSON shape, attached to the cluster so
        # it carries host/port/engine: what the rotation functions expect). The migrate function creates the
        # roles with these passwords; a service's functions can read only their own.
        service_secrets: dict[Service, secretsmanager.ISecret] = {}
        for service in CATALOGUES:
            secret = rds.DatabaseSecret(
                self, f"{construct_id(str(service))}DatabaseCredentials",
                username=role_name(service),
                secret_name=config.resource_name(f"{service}-db-credentials"),
                master_secret=cluster.secret,
                exclude_characters=" %+~`#$&*()|[]{}:;<>?!'/@\"\\",
            )
            secret.apply_removal_policy(config.removal_policy)
            nag.suppress(secret, "AwsSolutions-SMG4",
                         "Rotation-ready (RDS secret attached to the cluster, with the master secret's ARN for the "
                         "alternating-users rotation); rotation is enabled per stage once functions read the new "
                         "credentials within their cache TTL (docs/deploy.md).")
            service_secrets[service] = secret.attach(cluster)
        proxy = cluster.add_proxy(
            "Proxy",
            db_proxy_name=config.resource_name("db-proxy"),
            secrets=[cluster.secret, *service_secrets.values()],
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[proxy_sg],
            require_tls=True,
            # Functions authenticate with their service's credentials secret (DB_SECRET_ARN); they are also
            # granted rds-db:connect as their role, so switching the proxy to IAM auth needs no IAM change.
            iam_auth=False,
            borrow_timeout=Duration.seconds(30),
            max_connections_percent=90,
        )
        proxy_sg.add_ingress_rule(function_sg, ec2.Port.tcp(PROXY_PORT), "Lambda functions to RDS Proxy")
        proxy_sg.add_egress_rule(db_sg, ec2.Port.tcp(cluster.cluster_endpoint.port), "RDS Proxy to Aurora")
        db_sg.add_ingress_rule(proxy_sg, ec2.Port.tcp(cluster.cluster_endpoint.port), "RDS Proxy to Aurora")

        jwt_secret = secretsmanager.Secret(
            self, "JwtSigningKey",
            description=f"SmartCourse {config.name}: HS256 signing key of access tokens",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False,
            ),
            removal_policy=config.removal_policy,
        )
        nag.suppress(jwt_secret, "AwsSolutions-SMG4",
                     "The signing key is rotated by an operator procedure (docs/deploy.md): automatic rotation "
                     "would need verifiers that accept the previous key, which the authorizer does not do yet.")

        db_secret = cluster.node.find_child("Secret")
        assert isinstance(db_secret, secretsmanager.Secret)
        db_secret.apply_removal_policy(config.removal_policy)  # a retained cluster keeps its credentials
        nag.suppress(db_secret, "AwsSolutions-SMG4",
                     "The master credentials are used only by the deploy-time migrate function; rotating them is "
                     "an operator procedure (docs/deploy.md).")

        function_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        self.events = EventCluster(self, "Events", config=config, vpc=vpc, subnets=function_subnets,
                                   client_security_group=function_sg)
        for child in self.node.find_all():
            if child.node.id.startswith("AWS679f53fac002430cb0da5b7982bd2287"):
                nag.suppress_cdk_provider(child)

        self.resources = SharedResources(
            vpc=vpc,
            function_subnets=function_subnets,
            function_security_group=function_sg,
            db_proxy=proxy,
            db_master_secret=cluster.secret,
            db_master_username=DB_USERNAME,
            db_secrets=service_secrets,
            db_port=PROXY_PORT,
            jwt_secret=jwt_secret,
            api_gateway_account=self._api_gateway_account(),
            events=self.events.backbone,
        )
        self.cluster = cluster
        self._platform_functions(config, local)

    def _platform_functions(self, config: StageConfig, local: bool) -> None:
        """``platform-migrate`` (run on every deploy that changes it) and the topics custom resource."""
        code = assets.function_code(assets.PLATFORM)
        layers = list(service_layers(self, config=config, layer=assets.PLATFORM, local=local))

        def build(spec: Any, reserved: int | None) -> ServiceFunction:
            return ServiceFunction(self, construct_id(spec.name), spec=spec, config=config, shared=self.resources,
                                   code=code, layers=layers, reserved_concurrency=reserved, local=local)

        self.migrate = build(MIGRATE, 1 if config.reserved_concurrency is not None else None)
        self.kafka_topics_function = build(KAFKA_TOPICS, None)
        # Migrations run on deploy, after the database and the proxy exist, and again whenever the migrate
        # function changes (its code asset holds migrations/, so a new migration is a change). Service stacks
        # deploy after this stack: new code never serves traffic against an old schema.
        self.migration_trigger = triggers.Trigger(
            self, "MigrateOnDeploy",
            handler=self.migrate.function,
            invocation_type=triggers.InvocationType.REQUEST_RESPONSE,
            timeout=Duration.seconds(MIGRATE.timeout_seconds + 30),
            execute_after=[self.resources.db_proxy],
            execute_on_handler_change=True,
        )
        # The event topics (MSK Serverless has no CloudFormation resource for them).
        self.topics = KafkaTopics(self, "KafkaTopics", config=config, handler=self.kafka_topics_function.function)
        for child in self.node.find_all():
            if child.node.id.startswith("AWSCDK.TriggerCustomResourceProvider"):
                nag.suppress_cdk_provider(child)

    def _network(self) -> ec2.Vpc:
        config = self.config
        vpc = ec2.Vpc(
            self, "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"),
            max_azs=2,
            nat_gateways=config.nat_gateways,
            restrict_default_security_group=True,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
                ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
            ],
        )
        # Free gateway endpoint: S3 traffic (reports, certificates, uploads) stays off the NAT.
        vpc.add_gateway_endpoint("S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3)
        # Likewise DynamoDB (each service's Idempotency-Key records).
        vpc.add_gateway_endpoint("DynamoDbEndpoint", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)
        flow_logs = logs.LogGroup(self, "VpcFlowLogs", retention=config.log_retention,
                                  removal_policy=config.removal_policy)
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.ALL if config.is_prod else ec2.FlowLogTrafficType.REJECT,
        )
        for child in vpc.node.find_all():
            if child.node.id == "CustomVpcRestrictDefaultSGCustomResourceProvider":
                nag.suppress_cdk_provider(child)
        return vpc

    def _database(self, vpc: ec2.IVpc, db_sg: ec2.ISecurityGroup) -> rds.DatabaseCluster:
        config = self.config
        cluster_id = config.resource_name("db")
        # Own the PostgreSQL log group so it gets the stage's retention (RDS would create it with none).
        db_logs = logs.LogGroup(self, "DatabaseLogs", log_group_name=f"/aws/rds/cluster/{cluster_id}/postgresql",
                                retention=config.log_retention, removal_policy=config.removal_policy)
        cluster = rds.DatabaseCluster(
            self, "Database",
            cluster_identifier=cluster_id,
            engine=rds.DatabaseClusterEngine.aurora_postgres(version=AURORA_POSTGRES_VERSION),
            credentials=rds.Credentials.from_generated_secret(DB_USERNAME),
            default_database_name=DB_DEFAULT_DATABASE,
            writer=rds.ClusterInstance.serverless_v2("writer", publicly_accessible=False,
                                                     auto_minor_version_upgrade=True),
            readers=[
                rds.ClusterInstance.serverless_v2(f"reader{i + 1}", scale_with_writer=True, publicly_accessible=False)
                for i in range(config.aurora_readers)
            ],
            serverless_v2_min_capacity=config.aurora_min_acu,
            serverless_v2_max_capacity=config.aurora_max_acu,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[db_sg],
            storage_encrypted=True,
            iam_authentication=True,
            deletion_protection=config.deletion_protection,
            removal_policy=config.removal_policy,
            backup=rds.BackupProps(retention=Duration.days(config.backup_retention_days)),
            cloudwatch_logs_exports=["postgresql"],
            copy_tags_to_snapshot=True,
        )
        cluster.node.add_dependency(db_logs)
        nag.suppress(cluster, "AwsSolutions-RDS11",
                     "Aurora keeps the PostgreSQL port: clients only reach it through RDS Proxy (5432 is fixed "
                     "there) from the function security group in isolated subnets; a custom port adds nothing.")
        if not config.deletion_protection:
            nag.suppress(cluster, "AwsSolutions-RDS10",
                         f"Stage {config.name} is disposable; deletion protection is on in prod.")
        return cluster

    def _api_gateway_account(self) -> apigw.CfnAccount:
        """The regional API Gateway setting that lets every REST API stage write access/execution logs."""
        role = iam.Role(
            self, "ApiGatewayCloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
            ],
        )
        nag.suppress(role, "AwsSolutions-IAM4",
                     "AmazonAPIGatewayPushToCloudWatchLogs is the AWS-documented policy for the API Gateway "
                     "account logging role; it only allows writing CloudWatch Logs.",
                     findings=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                                 "AmazonAPIGatewayPushToCloudWatchLogs"])
        account = apigw.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
        # Region-wide setting shared with other stages and APIs: never remove it with a stack.
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        account.node.add_dependency(role)
        return account
