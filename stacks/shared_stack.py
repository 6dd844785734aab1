"""Shared infrastructure of a stage: network, database, secrets, the event cluster (MSK Serverless).

Service stacks receive :class:`SharedResources` through their constructor
(object references, resolved by CDK into cross-stack references), never
through hand-written CloudFormation exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from stacks import nag
from stacks.constructs.event_cluster import EventBackbone, EventCluster
from stacks.stage_config import StageConfig

DB_USERNAME = "smartcourse_admin"
DB_DEFAULT_DATABASE = "smartcourse_lms"
PROXY_PORT = 5432  # RDS Proxy for PostgreSQL always listens on 5432
AURORA_POSTGRES_VERSION = rds.AuroraPostgresEngineVersion.VER_16_6


@dataclass(frozen=True)
class SharedResources:
    """What a service stack needs from the shared stack."""

    vpc: ec2.IVpc
    function_subnets: ec2.SubnetSelection
    function_security_group: ec2.ISecurityGroup
    db_proxy: rds.DatabaseProxy
    db_secret: secretsmanager.ISecret
    db_username: str
    db_port: int
    jwt_secret: secretsmanager.ISecret
    api_gateway_account: apigw.CfnAccount
    events: EventBackbone


class SharedStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
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
        proxy = cluster.add_proxy(
            "Proxy",
            db_proxy_name=config.resource_name("db-proxy"),
            secrets=[cluster.secret] if cluster.secret else [],
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[proxy_sg],
            require_tls=True,
            # Functions authenticate with the generated credentials secret (DB_SECRET_ARN); they are also
            # granted rds-db:connect, so switching the proxy to IAM auth needs no IAM change.
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

        assert cluster.secret is not None  # generated credentials always create one
        db_secret = cluster.node.find_child("Secret")
        assert isinstance(db_secret, secretsmanager.Secret)
        db_secret.apply_removal_policy(config.removal_policy)  # a retained cluster keeps its credentials
        nag.suppress(db_secret, "AwsSolutions-SMG4",
                     "Functions cache the DB credentials (5 min) and log in to RDS Proxy with them; single-user "
                     "rotation would reject new connections until caches expire. Planned: IAM auth at the "
                     "proxy, then rotation.")

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
            db_secret=cluster.secret,
            db_username=DB_USERNAME,
            db_port=PROXY_PORT,
            jwt_secret=jwt_secret,
            api_gateway_account=self._api_gateway_account(),
            events=self.events.backbone,
        )
        self.cluster = cluster

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
