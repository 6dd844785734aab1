"""Build the stage's stacks into an app (used by ``app.py`` and the infrastructure tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, Tags

from stacks import nag
from stacks.ai_stack import AiStack
from stacks.analytics_stack import AnalyticsStack
from stacks.lms_stack import LmsStack
from stacks.notification_stack import NotificationStack
from stacks.service_stack import ServiceStack
from stacks.shared_stack import SharedStack
from stacks.stage_config import StageConfig, stage_config

LOCAL_CONTEXT_KEY = "smartcourse:local"
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """The ``context`` of ``cdk.json`` (feature flags): what the CLI would pass, for standalone runs and tests."""
    try:
        context = json.loads(CDK_JSON.read_text()).get("context", {})
    except FileNotFoundError:
        return {}
    return dict(context)


@dataclass(frozen=True)
class SmartCourseApp:
    config: StageConfig
    shared: SharedStack
    lms: LmsStack
    notification: NotificationStack
    ai: AiStack
    analytics: AnalyticsStack

    @property
    def service_stacks(self) -> tuple[ServiceStack, ...]:
        return (self.lms, self.notification, self.ai, self.analytics)


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def build(app: App, stage: str | None = None, *, nag_checks: bool = True) -> SmartCourseApp:
    """Add ``smartcourse-{stage}-shared`` and one stack per service to ``app``.

    ``stage`` defaults to the ``stage`` context (``-c stage=...``), then ``dev``.
    The ``smartcourse:local`` context (set by the local cloud) skips downloading
    the arm64 dependency wheels: the local runner uses the project virtualenv.

    Deploy order: shared (network, database and roles, topics) → notification → LMS (its API routes to the
    notification functions, by name) → AI and analytics (behind the LMS's authorizer, by name).
    """
    config = stage_config(stage if stage is not None else app.node.try_get_context("stage"))
    local = _truthy(app.node.try_get_context(LOCAL_CONTEXT_KEY))
    description = "SmartCourse ({stage}): {what}"

    def describe(what: str) -> str:
        return description.format(stage=config.name, what=what)

    shared = SharedStack(app, config.resource_name("shared"), config=config, local=local,
                         description=describe("network, database and roles, secrets, event cluster and topics"))
    notification = NotificationStack(app, config.resource_name("notification"), config=config,
                                     shared=shared.resources, local=local,
                                     description=describe("notification events, send queue, email/SMS, routes"))
    lms = LmsStack(app, config.resource_name("lms"), config=config, shared=shared.resources, local=local,
                   description=describe("LMS API and functions, content and certificate buckets"))
    ai = AiStack(app, config.resource_name("ai"), config=config, shared=shared.resources, local=local,
                 description=describe("AI API, consumer, index queue and worker, provider key"))
    analytics = AnalyticsStack(app, config.resource_name("analytics"), config=config, shared=shared.resources,
                               local=local,
                               description=describe("Analytics API, consumer, archiver, reports queue and "
                                                    "builder, report and archive buckets, Athena table"))
    lms.add_stack_dependency(notification)
    for service_stack in (ai, analytics):
        service_stack.add_stack_dependency(lms)
    for stack in (shared, lms, notification, ai, analytics):
        for key, value in (("project", "smartcourse"), ("stage", config.name)):
            # RDS Proxy target groups take no tags (CloudFormation rejects them).
            Tags.of(stack).add(key, value, exclude_resource_types=["AWS::RDS::DBProxyTargetGroup"])
    if nag_checks:
        nag.apply_checks(app)
    return SmartCourseApp(config=config, shared=shared, lms=lms, notification=notification, ai=ai,
                          analytics=analytics)
