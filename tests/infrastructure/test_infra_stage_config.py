"""Per-stage settings: fast, no synthesis."""

from __future__ import annotations

import pytest
from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

from stacks.stage_config import MAX_AUTHORIZER_CACHE_TTL_SECONDS, STAGES, UnknownStageError, stage_config

pytestmark = pytest.mark.infrastructure


def test_default_stage_is_dev() -> None:
    assert stage_config(None).name == "dev"


@pytest.mark.parametrize("stage", ["qa", "production", "", "Dev"])
def test_unknown_stage_fails_clearly(stage: str) -> None:
    with pytest.raises(UnknownStageError, match=r"unknown stage .*expected one of dev, staging, prod"):
        stage_config(stage or "  ")


def test_stage_names() -> None:
    assert {stage_config(s).resource_name("lms") for s in STAGES} == {
        "smartcourse-dev-lms", "smartcourse-staging-lms", "smartcourse-prod-lms",
    }


@pytest.mark.parametrize("stage", STAGES)
def test_authorizer_cache_is_capped(stage: str) -> None:
    assert 0 <= stage_config(stage).authorizer_cache_ttl_seconds <= MAX_AUTHORIZER_CACHE_TTL_SECONDS <= 300


def test_stage_differences() -> None:
    dev, staging, prod = (stage_config(s) for s in STAGES)
    assert (dev.log_retention, staging.log_retention, prod.log_retention) == (
        logs.RetentionDays.ONE_WEEK, logs.RetentionDays.ONE_MONTH, logs.RetentionDays.ONE_YEAR,
    )
    assert dev.removal_policy == RemovalPolicy.DESTROY and prod.removal_policy == RemovalPolicy.RETAIN
    assert dev.reserved_concurrency is None and dev.authorizer_provisioned_concurrency == 0
    assert not dev.alarms and prod.alarms
    assert prod.deletion_protection and not dev.deletion_protection
    assert dev.nat_gateways <= prod.nat_gateways <= 2
