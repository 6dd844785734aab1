"""The notification service's event side: the consumer of domain events, the send queue and its worker, SES.

Its HTTP routes are served by the LMS API (built by the LMS stack). The
sender invokes ``lms-auth-issue-one-time-token`` by its deterministic name,
so this stack references nothing of the LMS stack (it only deploys after it:
the event topics and the token issuer exist by then).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from smartcourse.catalogue import EVENT_FUNCTIONS, Service

from stacks import assets, nag
from stacks.constructs.service_function import DLQ_RETENTION, MailSender, ServiceFunction, dead_letter_alarm
from stacks.constructs.service_layers import service_layers
from stacks.shared_stack import SharedResources
from stacks.stage_config import StageConfig

SERVICE = Service.NOTIFICATION
MAX_RECEIVE_COUNT = 5  # deliveries of a send before it moves to the dead-letter queue
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS guidance for Lambda-polled queues: 6 x the function timeout
MIN_VISIBILITY_TIMEOUT_SECONDS = 30


def _construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


class NotificationStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, shared: SharedResources,
                 local: bool = False, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        specs = EVENT_FUNCTIONS.get(SERVICE, ())

        code = assets.function_code()
        layers = list(service_layers(self, config=config, service=SERVICE, local=local))
        self.alarms: list[cloudwatch.Alarm] = []

        # Queues named by SQS triggers, each with its dead-letter queue.
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for name in sorted({spec.sqs.queue for spec in specs if spec.sqs is not None}):
            timeout = max(spec.timeout_seconds for spec in specs if spec.sqs is not None and spec.sqs.queue == name)
            self.queues[name] = self._queue(name, timeout)

        # The sender identity (verified out of band: docs/deploy.md).
        identity = (ses.Identity.email(config.mail_identity) if "@" in config.mail_identity
                    else ses.Identity.domain(config.mail_identity))
        self.mail_identity = ses.EmailIdentity(self, "MailIdentity", identity=identity)
        mail = MailSender(
            identity_arn=self.format_arn(service="ses", resource="identity",
                                         resource_name=self.mail_identity.email_identity_name),
            address=config.mail_from,
        )

        self.functions = {
            spec.name: ServiceFunction(
                self, _construct_id(spec.name), spec=spec, config=config, shared=shared, code=code, layers=layers,
                database_service=SERVICE, reserved_concurrency=None, queues=self.queues, mail=mail, local=local,
            )
            for spec in specs
        }
        self.alarms += [a for f in self.functions.values() for a in f.alarms]

    def _queue(self, name: str, function_timeout_seconds: int) -> sqs.Queue:
        config = self.config
        queue_id = _construct_id(name)
        dead_letters = sqs.Queue(
            self, f"{queue_id}DeadLetterQueue",
            queue_name=config.resource_name(f"{name}-dlq"),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
            removal_policy=config.removal_policy,
        )
        nag.suppress(dead_letters, "AwsSolutions-SQS3",
                     f"This queue is the dead-letter queue of {config.resource_name(name)}.")
        self.dead_letter_queues[name] = dead_letters
        if config.alarms:
            self.alarms.append(dead_letter_alarm(self, f"{queue_id}DeadLetterAlarm", dead_letters,
                                                 config.resource_name(f"{name}-dlq")))
        visibility = max(MIN_VISIBILITY_TIMEOUT_SECONDS, VISIBILITY_TIMEOUT_FACTOR * function_timeout_seconds)
        return sqs.Queue(
            self, f"{queue_id}Queue",
            queue_name=config.resource_name(name),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=MAX_RECEIVE_COUNT),
            removal_policy=config.removal_policy,
        )
