"""What a service stack needs from the shared stack (object references; CDK turns them into cross-stack refs)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from smartcourse.catalogue import Service

from stacks.constructs.event_cluster import EventBackbone


@dataclass(frozen=True)
class SharedResources:
    """What a service stack needs from the shared stack."""

    vpc: ec2.IVpc
    function_subnets: ec2.SubnetSelection
    function_security_group: ec2.ISecurityGroup
    db_proxy: rds.DatabaseProxy
    # The cluster's master credentials: only the migrate function reads them (it creates the service roles).
    db_master_secret: secretsmanager.ISecret
    db_master_username: str
    # Each service's own login role credentials (rotation-ready RDS secrets, registered with the proxy).
    db_secrets: dict[Service, secretsmanager.ISecret]
    db_port: int
    jwt_secret: secretsmanager.ISecret
    api_gateway_account: apigw.CfnAccount
    events: EventBackbone
