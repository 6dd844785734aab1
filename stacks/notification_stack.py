"""The notification service: the consumer of domain events, the send queue and its worker, SES, its routes.

Its HTTP routes are served by the LMS API (built by the LMS stack, which references these functions by
name). The sender invokes ``lms-auth-issue-one-time-token`` by its deterministic name, so this stack
references nothing of the LMS stack.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_ses as ses
from constructs import Construct
from smartcourse.catalogue import Service

from stacks.constructs.service_function import MailSender
from stacks.service_stack import ServiceStack
from stacks.shared_resources import SharedResources
from stacks.stage_config import StageConfig


class NotificationStack(ServiceStack):
    def __init__(self, scope: Construct, stack_id: str, *, config: StageConfig, shared: SharedResources,
                 local: bool = False, **kwargs: Any) -> None:
        super().__init__(scope, stack_id, config=config, shared=shared, service=Service.NOTIFICATION, local=local,
                         **kwargs)

    def function_resources(self) -> dict[str, Any]:
        config = self.config
        # The sender identity (verified out of band: docs/deploy.md).
        identity = (ses.Identity.email(config.mail_identity) if "@" in config.mail_identity
                    else ses.Identity.domain(config.mail_identity))
        self.mail_identity = ses.EmailIdentity(self, "MailIdentity", identity=identity)
        mail = MailSender(
            identity_arn=self.format_arn(service="ses", resource="identity",
                                         resource_name=self.mail_identity.email_identity_name),
            address=config.mail_from,
        )
        return {"mail": mail}
