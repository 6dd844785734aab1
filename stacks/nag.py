"""cdk-nag (v3): the AwsSolutions pack and the project's justified acknowledgements.

cdk-nag 3 runs as a CDK policy-validation plugin: findings are reported when
the app synthesizes (``policy-validation-report.json`` in the assembly) and
make synthesis fail. A rule is acknowledged with CDK's native
``Validations.of(construct).acknowledge(...)``; rules with several findings
per resource (IAM4, IAM5) are acknowledged one finding at a time, as
``RuleId[finding]``.

Every acknowledgement names the rule, says why the finding does not apply or
is accepted, and is attached to the narrowest construct possible.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

LAMBDA_BASIC_EXECUTION = "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def apply_checks(scope: IConstruct) -> AwsSolutionsChecks:
    """Register the AwsSolutions pack on ``scope`` (run at synthesis)."""
    checks = AwsSolutionsChecks(scope, verbose=True)
    Validations.of(scope).add_plugins(checks)
    return checks


def suppress(construct: IConstruct, rule: str, reason: str, *, findings: Sequence[str] = ()) -> None:
    """Acknowledge ``rule`` on ``construct`` and its children; with ``findings``, only those findings."""
    ids = [f"{rule}[{finding}]" for finding in findings] if findings else [rule]
    Validations.of(construct).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in ids))


def suppress_cdk_provider(construct: IConstruct) -> None:
    """Findings on singleton functions CDK itself owns (custom-resource providers, trigger runners)."""
    suppress(construct, "AwsSolutions-IAM4",
             "CDK-owned custom resource provider: AWSLambdaBasicExecutionRole only lets it write its own logs.",
             findings=[LAMBDA_BASIC_EXECUTION])
    suppress(construct, "AwsSolutions-L1",
             "CDK-owned custom resource provider: its runtime is pinned by the aws-cdk-lib version.")
