"""A service's table of ``Idempotency-Key`` records (``smartcourse.idempotency``; Powertools' layout).

One per service stack that has a mutating route. Records expire through DynamoDB's TTL 24 hours after
their request; Powertools also treats an expired record as absent, so TTL's lag changes nothing.
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct
from smartcourse.catalogue import Function, Service
from smartcourse.idempotency import EXPIRY_ATTRIBUTE, KEY_ATTRIBUTE, is_mutating

from stacks.stage_config import StageConfig

# What a function with a mutating route may do on its service's table: exactly what Powertools calls.
TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
TABLE_VARIABLE = "IDEMPOTENCY_TABLE"


def takes_idempotency_key(spec: Function) -> bool:
    """A function with a mutating route honours ``Idempotency-Key`` (the catalogue's route says so)."""
    return any(is_mutating(r.method) for r in spec.routes)


def idempotency_table(scope: Construct, *, config: StageConfig, service: Service) -> dynamodb.Table:
    return dynamodb.Table(
        scope, "IdempotencyTable",
        table_name=config.resource_name(f"{service}-idempotency"),
        partition_key=dynamodb.Attribute(name=KEY_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        time_to_live_attribute=EXPIRY_ATTRIBUTE,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        deletion_protection=config.deletion_protection,
        removal_policy=config.removal_policy,
    )
