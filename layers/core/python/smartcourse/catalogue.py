"""What a function is: the declaration types of the function catalogue, and the platform's own functions.

Each service declares its functions in its own package (``smartcourse_<service>.catalogue``) with these
types: handler, trigger (HTTP route(s), the event types it consumes, SQS queue or schedule), settings and
the resources it may touch. The CDK stacks build functions, routes, event source mappings and IAM grants
from those declarations; handlers take their route from them; the local runner reads the *synthesized*
template that the stacks produced, so no second route table exists anywhere.

Pure data, no I/O and no AWS imports: it is imported by Lambda handlers on the hot path and by the CDK app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Service(StrEnum):
    LMS = "lms"
    AI = "ai"
    ANALYTICS = "analytics"
    NOTIFICATION = "notification"
    PLATFORM = "platform"


class Grant(StrEnum):
    """Resources a function may use; the stacks turn each into least-privilege IAM."""

    DATABASE = "database"  # read the service's own DB credentials secret, connect to its database as its role
    DATABASE_ADMIN = "database-admin"  # the master credentials and every service's secret (the migrate function)
    JWT_SIGNING_KEY = "jwt-signing-key"  # read the JWT signing secret
    OUTBOX_NUDGE = "outbox-nudge"  # invoke the outbox publisher asynchronously
    CONTENT_BUCKET = "content-bucket"  # read/write objects under courses/* of the content bucket
    CERTIFICATE_BUCKET = "certificate-bucket"  # read/write objects under certificates/* of the certificates bucket
    KAFKA_PRODUCE = "kafka-produce"  # connect to the event cluster and write to the event topics (MSK IAM)
    NOTIFICATION_QUEUE = "notification-queue"  # send messages to the notification send queue
    EMAIL = "email"  # send email through SES from the stage's sender identity
    SMS = "sms"  # publish SMS through SNS and check phone-number opt-outs
    ISSUE_ONE_TIME_TOKEN = "issue-one-time-token"  # noqa: S105 - invoke lms-auth-issue-one-time-token
    KAFKA_TOPICS = "kafka-topics"  # connect to the event cluster and create/describe the event topics (deploy)
    CONTENT_READ = "content-read"  # read (only) objects under courses/* of the content bucket (the AI's indexing)
    AI_INDEX_QUEUE = "ai-index-queue"  # send messages to the AI's index job queue
    SAVE_QUIZ = "save-quiz"  # invoke lms-assets-save-quiz (the LMS applies its staff rules)
    AI_PROVIDER_KEY = "ai-provider-key"  # read the configured OpenAI-compatible endpoint's API key secret
    ANALYTICS_REPORT_QUEUE = "analytics-report-queue"  # send messages to the analytics report queue
    ANALYTICS_REPORTS_BUCKET = "analytics-reports-bucket"  # write reports/* of the reports bucket (the builder)
    ANALYTICS_REPORTS_READ = "analytics-reports-read"  # read (presign a download of) reports/* of the reports bucket
    EVENT_ARCHIVE = "event-archive"  # write events/* of the event archive bucket (the archiver)
    EVENT_ARCHIVE_READ = "event-archive-read"  # read (only) events/* of the event archive bucket (replay)


@dataclass(frozen=True)
class HttpRoute:
    method: str
    path: str  # API Gateway style: /api/v1/admin/users/{user_id}
    authorized: bool = True  # behind the Lambda authorizer
    # Also open to callers without a token ("anyone" in the API contract): served through the
    # uncached optional authorizer, which passes an anonymous principal when no token is sent.
    anonymous: bool = False

    @property
    def resolver_path(self) -> str:
        """The same path in Powertools' resolver syntax (``<param>``)."""
        return self.path.replace("{", "<").replace("}", ">")


@dataclass(frozen=True)
class KafkaTrigger:
    """A Kafka consumer: the event types it handles, the one declaration of who consumes what.

    Its topic subscriptions (and so the stacks' event source mappings) and the consumers column of the
    exported event docs derive from ``event_types``; the handler's ``EventConsumer`` is built from the
    function and refuses effects that are not exactly these types (at import).
    """

    event_types: tuple[str, ...]
    batch_size: int = 100
    starting_position: str = "TRIM_HORIZON"
    # Every record of every topic, whatever its type (the event archive): it consumes topics, not event
    # types, so it is no row of the "who consumes what" table and declares no ``event_types``.
    every_topic: bool = False

    def __post_init__(self) -> None:
        if self.every_topic and self.event_types:
            raise ValueError("a consumer of every topic declares no event types")

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics carrying ``event_types`` (imports the contracts: for the stacks and tools, not handlers)."""
        if self.every_topic:
            from smartcourse_events.topics import ALL_TOPICS

            return tuple(sorted(ALL_TOPICS))
        from smartcourse_events.registry import topic_for

        return tuple(sorted({topic_for(event_type) for event_type in self.event_types}))


@dataclass(frozen=True)
class SqsTrigger:
    queue: str  # logical queue name, declared by the service's stack
    batch_size: int = 10
    report_batch_item_failures: bool = True


@dataclass(frozen=True)
class ScheduleTrigger:
    expression: str  # e.g. "rate(1 minute)", "cron(0 6 * * ? *)"


@dataclass(frozen=True)
class Function:
    name: str  # unique, kebab-case: "lms-auth-register"
    service: Service
    handler: str  # module path under functions/ + ".handler": "lms.auth.register.handler"
    description: str
    routes: tuple[HttpRoute, ...] = ()
    kafka: KafkaTrigger | None = None
    sqs: SqsTrigger | None = None
    schedule: ScheduleTrigger | None = None
    grants: frozenset[Grant] = field(default_factory=frozenset)
    timeout_seconds: int = 10
    memory_mb: int = 512
    # The REST API serving ``routes`` when it is not the owner's own (notification routes are on the LMS API).
    api: Service | None = None
    # A cap of the function's own, whatever the stage (None: the stage decides).
    reserved_concurrency: int | None = None

    @property
    def api_service(self) -> Service:
        return self.api or self.service

    @property
    def route(self) -> HttpRoute:
        """The function's single route (one Lambda per endpoint)."""
        if len(self.routes) != 1:
            raise ValueError(f"{self.name} has {len(self.routes)} routes, not one")
        return self.routes[0]

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]


_DB = frozenset({Grant.DATABASE})


@dataclass(frozen=True)
class ServiceCatalogue:
    """Every function of one service, and the facts the stacks need about them as a group."""

    service: Service
    functions: tuple[Function, ...]
    # The service's outbox publisher (``Grant.OUTBOX_NUDGE`` invokes it); None when it writes no events.
    outbox_publisher: Function | None = None

    def __post_init__(self) -> None:
        names = [f.name for f in self.functions]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.service}: a function name is declared twice")
        strangers = [f.name for f in self.functions if f.service is not self.service]
        if strangers:
            raise ValueError(f"{self.service} catalogue holds functions of another service: {strangers}")

    def function(self, name: str) -> Function:
        for candidate in self.functions:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    @property
    def consumers(self) -> tuple[Function, ...]:
        return tuple(f for f in self.functions if f.kafka is not None)


def health_function(service: Service) -> Function:
    return Function(
        name=f"{service}-health",
        service=service,
        handler="platform_fns.health.handler",
        description=f"Liveness of the {service} API",
        routes=(HttpRoute("GET", "/health", authorized=False),),
        timeout_seconds=3,
        memory_mb=128,
    )


def docs_function(service: Service) -> Function:
    return Function(
        name=f"{service}-docs",
        service=service,
        handler="platform_fns.docs.handler",
        description=f"OpenAPI document and Swagger UI of the {service} API",
        routes=(
            HttpRoute("GET", "/openapi.json", authorized=False),
            HttpRoute("GET", "/docs", authorized=False),
            HttpRoute("GET", "/docs.js", authorized=False),
            HttpRoute("GET", "/docs.css", authorized=False),
        ),
        memory_mb=256,
    )


def outbox_publisher_function(service: Service) -> Function:
    """A service's outbox publisher: drains its database's outbox to Kafka on a schedule and when nudged."""
    return Function(
        name=f"{service}-outbox-publisher",
        service=service,
        handler="platform_fns.outbox_publisher.handler",
        description=f"Publishes due outbox rows of the {service} database to Kafka (scheduled backstop, nudged "
                    "after commits)",
        schedule=ScheduleTrigger("rate(1 minute)"),
        grants=frozenset({Grant.DATABASE, Grant.KAFKA_PRODUCE}),
        timeout_seconds=60,
        # Every commit with events nudges it: a burst of writes must not become a burst of publishers (each a
        # broker connection and a SKIP LOCKED scan); two drain as fast as one batch loop can, the rest queue.
        reserved_concurrency=2,
    )


# Platform functions: deploy-time work for every service (the shared stack holds them).
MIGRATE = Function(
    name="platform-migrate",
    service=Service.PLATFORM,
    handler="platform_fns.migrate.handler",
    description="Creates each service's database and login role, grants, and runs every service's migrations",
    grants=frozenset({Grant.DATABASE_ADMIN}),
    timeout_seconds=300,
)

KAFKA_TOPICS = Function(
    name="platform-kafka-topics",
    service=Service.PLATFORM,
    handler="platform_fns.kafka_topics.handler",
    description="Custom resource: creates the event topics on the Kafka cluster on deploy (idempotent)",
    grants=frozenset({Grant.KAFKA_TOPICS}),
    timeout_seconds=120,
)

PLATFORM_FUNCTIONS: tuple[Function, ...] = (MIGRATE, KAFKA_TOPICS)
