"""The event backbone: an MSK Serverless cluster (IAM client auth) in the stage's VPC.

MSK Serverless has no CloudFormation resource for topics nor an attribute for
its bootstrap brokers: the brokers come from ``kafka:GetBootstrapBrokers``
(an SDK-call custom resource here); the topics are created by the
``platform-kafka-topics`` function (:class:`KafkaTopics`, built by the shared
stack, which holds the platform functions' code and layers).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CustomResource, Duration, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_msk as msk
from aws_cdk import custom_resources as cr
from constructs import Construct
from smartcourse_events.topics import ALL_TOPICS

from stacks import nag
from stacks.stage_config import StageConfig

IAM_PORT = 9098  # MSK's SASL/IAM listener
# Partitions per topic: the unit of consumer parallelism (one Lambda poller per partition at most).
TOPIC_PARTITIONS: dict[str, int] = dict.fromkeys(ALL_TOPICS, 6)


@dataclass(frozen=True)
class EventBackbone:
    """What functions need from the cluster: ARNs for IAM, brokers for clients, its security group."""

    cluster_arn: str
    cluster_name: str
    bootstrap_servers: str  # SASL/IAM bootstrap string
    security_group: ec2.ISecurityGroup
    subnets: ec2.SubnetSelection

    def _arn(self, kind: str, name: str) -> str:
        # arn:<partition>:kafka:<region>:<account>:<kind>/<cluster name>/<cluster uuid>/<name>
        stack_prefix = Fn.select(0, Fn.split(":cluster/", self.cluster_arn))
        uuid = Fn.select(2, Fn.split("/", self.cluster_arn))
        return Fn.join("", [stack_prefix, f":{kind}/{self.cluster_name}/", uuid, f"/{name}"])

    def topic_arn(self, topic: str) -> str:
        return self._arn("topic", topic)

    def group_arn(self, group: str) -> str:
        return self._arn("group", group)


class EventCluster(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, vpc: ec2.IVpc,
                 subnets: ec2.SubnetSelection, client_security_group: ec2.ISecurityGroup) -> None:
        super().__init__(scope, construct_id)
        cluster_name = config.resource_name("events")
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="SmartCourse MSK Serverless cluster and its Lambda event source mappings",
        )
        self.security_group.add_ingress_rule(client_security_group, ec2.Port.tcp(IAM_PORT),
                                             "Lambda functions to Kafka (SASL/IAM)")
        # Event source mappings poll from ENIs in this group: they reach the brokers through the group
        # itself and Lambda/STS over HTTPS (NAT).
        self.security_group.add_ingress_rule(self.security_group, ec2.Port.tcp(IAM_PORT),
                                             "Event source mappings to Kafka (SASL/IAM)")
        self.security_group.add_egress_rule(self.security_group, ec2.Port.tcp(IAM_PORT),
                                            "Event source mappings to Kafka (SASL/IAM)")
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
                                            "Event source mappings to the Lambda and STS APIs")
        subnet_ids = vpc.select_subnets(subnet_type=subnets.subnet_type).subnet_ids
        self.cluster = msk.CfnServerlessCluster(
            self, "Cluster",
            cluster_name=cluster_name,
            client_authentication=msk.CfnServerlessCluster.ClientAuthenticationProperty(
                sasl=msk.CfnServerlessCluster.SaslProperty(iam=msk.CfnServerlessCluster.IamProperty(enabled=True)),
            ),
            vpc_configs=[msk.CfnServerlessCluster.VpcConfigProperty(
                subnet_ids=subnet_ids, security_groups=[self.security_group.security_group_id],
            )],
        )
        brokers_call = cr.AwsSdkCall(
            service="Kafka", action="getBootstrapBrokers",
            parameters={"ClusterArn": self.cluster.attr_arn},
            physical_resource_id=cr.PhysicalResourceId.of(f"{cluster_name}-bootstrap-brokers"),
            output_paths=["BootstrapBrokerStringSaslIam"],
        )
        brokers = cr.AwsCustomResource(
            self, "BootstrapBrokers",
            on_create=brokers_call, on_update=brokers_call,
            policy=cr.AwsCustomResourcePolicy.from_statements([
                iam.PolicyStatement(actions=["kafka:GetBootstrapBrokers"], resources=[self.cluster.attr_arn]),
            ]),
            install_latest_aws_sdk=False,
            log_group=logs.LogGroup(self, "BootstrapBrokersLogs", retention=config.log_retention,
                                    removal_policy=config.removal_policy),
            timeout=Duration.minutes(2),
        )
        self.backbone = EventBackbone(
            cluster_arn=self.cluster.attr_arn,
            cluster_name=cluster_name,
            bootstrap_servers=brokers.get_response_field("BootstrapBrokerStringSaslIam"),
            security_group=self.security_group,
            subnets=subnets,
        )


class KafkaTopics(Construct):
    """The event topics, created by ``handler`` (platform-kafka-topics) through the Provider framework."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, handler: lambda_.IFunction,
                 topics: dict[str, int] | None = None) -> None:
        super().__init__(scope, construct_id)
        wanted = topics or TOPIC_PARTITIONS
        provider_logs = logs.LogGroup(self, "ProviderLogs", retention=config.log_retention,
                                      removal_policy=config.removal_policy)
        self.provider = cr.Provider(self, "Provider", on_event_handler=handler, log_group=provider_logs)
        self.resource = CustomResource(
            self, "Topics",
            service_token=self.provider.service_token,
            resource_type="Custom::KafkaTopics",
            properties={"Topics": [{"Name": name, "Partitions": str(n)} for name, n in sorted(wanted.items())]},
        )
        nag.suppress_cdk_provider(self.provider)
        nag.suppress(self.provider, "AwsSolutions-IAM5",
                     "CDK Provider framework: it may invoke the topics function and its versions (ARN:*).",
                     findings=[f"Resource::<{Stack.of(self).get_logical_id(_cfn_function(handler))}.Arn>:*"])


def _cfn_function(function: lambda_.IFunction) -> lambda_.CfnFunction:
    cfn = function.node.default_child
    assert isinstance(cfn, lambda_.CfnFunction)
    return cfn
