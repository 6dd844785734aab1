"""Per-stage settings: everything that differs between dev, staging and prod lives here.

Chosen with ``cdk synth|deploy -c stage=<name>`` (default ``dev``).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

STAGES = ("dev", "staging", "prod")
MAX_AUTHORIZER_CACHE_TTL_SECONDS = 300  # API Gateway allows up to 3600; we cap it to bound stale roles


class UnknownStageError(ValueError):
    """Raised for a ``-c stage=`` that is not one of :data:`STAGES`."""

    def __init__(self, stage: str) -> None:
        super().__init__(f"unknown stage {stage!r}: expected one of {', '.join(STAGES)} (pass -c stage=<name>)")
        self.stage = stage


@dataclass(frozen=True)
class StageConfig:
    name: str
    # Lambda
    default_memory_mb: int  # for functions that keep the catalogue's default size
    reserved_concurrency: int | None  # per API function; None = unreserved (no cap)
    authorizer_provisioned_concurrency: int  # 0 = none; >0 puts the authorizer behind a "live" alias
    # Lambda SnapStart (published versions behind a "live" alias) for the API and consumer functions; off in
    # dev, which the local runner synthesizes (it runs $LATEST). Not with provisioned concurrency (the
    # authorizer's, when set): Lambda takes one or the other.
    snap_start: bool
    log_level: str
    log_retention: logs.RetentionDays
    # Lifecycle
    removal_policy: RemovalPolicy
    deletion_protection: bool
    # Observability
    alarms: bool
    # Network
    nat_gateways: int
    # Database (Aurora PostgreSQL Serverless v2)
    aurora_min_acu: float
    aurora_max_acu: float
    aurora_readers: int
    backup_retention_days: int
    # API Gateway
    authorizer_cache_ttl_seconds: int
    throttle_rate_limit: float  # steady-state requests per second for the stage
    throttle_burst_limit: int
    api_logging_level: str  # execution logs: "ERROR" or "INFO" (never data trace: bodies hold credentials)
    waf: bool  # AWS WAF web ACL with managed rules on the API stage
    # Auth
    access_token_ttl_seconds: int
    # S3: browser origins allowed to PUT/GET content through presigned URLs (CORS); "*" only in dev
    content_cors_origins: tuple[str, ...]
    # Links in messages: the web app (APP_BASE_URL) and the public API (PUBLIC_BASE_URL, the LMS API's custom
    # domain; a setting rather than the API's URL, which would make every function depend on the API).
    app_base_url: str
    public_base_url: str
    # The analytics API's root (its custom domain): report mails link to a report there.
    analytics_base_url: str
    # Email (SES): the sender address and the identity that covers it (the address itself or its domain)
    mail_from: str
    mail_identity: str
    # AI: an OpenAI-compatible endpoint for generation (and optionally embeddings); None = the offline
    # providers. Its API key lives in the AI stack's secret (filled out of band: docs/ai.md).
    ai_openai_base_url: str | None = None
    ai_openai_chat_model: str = "gpt-4o-mini"
    ai_openai_embedding_model: str | None = None
    # Analytics (S3): days a built report stays downloadable (its object under reports/ then expires; the
    # report row says so); days before archived events move to Intelligent-Tiering (None = never: a dev
    # archive is small and short-lived); days archived events are kept (None = always: the archive is the
    # source a rebuild replays, so staging and prod never expire it).
    analytics_report_retention_days: int = 7
    analytics_archive_tiering_days: int | None = None
    analytics_archive_retention_days: int | None = None

    def __post_init__(self) -> None:
        if self.name not in STAGES:
            raise UnknownStageError(self.name)
        if not 0 <= self.authorizer_cache_ttl_seconds <= MAX_AUTHORIZER_CACHE_TTL_SECONDS:
            raise ValueError(f"authorizer cache TTL must be within 0..{MAX_AUTHORIZER_CACHE_TTL_SECONDS} s")
        if not 0 <= self.aurora_min_acu <= self.aurora_max_acu:
            raise ValueError("Aurora capacity: need 0 <= min <= max")
        if not self.content_cors_origins or (self.name != "dev" and "*" in self.content_cors_origins):
            raise ValueError("content CORS origins: a non-empty list; \"*\" is allowed in dev only")
        sender_domain = self.mail_from.rpartition("@")[2]
        if self.mail_identity not in (self.mail_from, sender_domain):
            raise ValueError("mail identity: the sender address or its domain (SES sends only from verified ones)")
        if self.analytics_report_retention_days < 1:
            raise ValueError("analytics report retention: at least one day")
        tiering, retention = self.analytics_archive_tiering_days, self.analytics_archive_retention_days
        if tiering is not None and tiering < 0:
            raise ValueError("analytics archive tiering: zero days or more")
        if retention is not None and (retention < 1 or (tiering is not None and retention <= tiering)):
            raise ValueError("analytics archive retention: at least one day, and after the tiering transition")

    @property
    def is_prod(self) -> bool:
        return self.name == "prod"

    def resource_name(self, suffix: str) -> str:
        """``smartcourse-{stage}-{suffix}``: the naming scheme of stacks and named resources."""
        return f"smartcourse-{self.name}-{suffix}"


_CONFIGS: dict[str, StageConfig] = {
    "dev": StageConfig(
        name="dev",
        default_memory_mb=512,
        reserved_concurrency=None,
        authorizer_provisioned_concurrency=0,
        snap_start=False,
        log_level="INFO",
        log_retention=logs.RetentionDays.ONE_WEEK,
        removal_policy=RemovalPolicy.DESTROY,
        deletion_protection=False,
        alarms=False,
        nat_gateways=1,
        aurora_min_acu=0.5,
        aurora_max_acu=2,
        aurora_readers=0,
        backup_retention_days=1,
        authorizer_cache_ttl_seconds=60,
        throttle_rate_limit=50,
        throttle_burst_limit=100,
        api_logging_level="INFO",
        waf=False,
        access_token_ttl_seconds=15 * 60,
        content_cors_origins=("*",),
        app_base_url="http://127.0.0.1:3000",
        public_base_url="http://127.0.0.1:8000",
        analytics_base_url="http://127.0.0.1:8002",
        mail_from="no-reply@smartcourse.local",
        mail_identity="no-reply@smartcourse.local",
        analytics_report_retention_days=7,
        analytics_archive_retention_days=30,
    ),
    "staging": StageConfig(
        name="staging",
        default_memory_mb=512,
        reserved_concurrency=10,
        authorizer_provisioned_concurrency=0,
        snap_start=True,
        log_level="INFO",
        log_retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.DESTROY,
        deletion_protection=False,
        alarms=True,
        nat_gateways=1,
        aurora_min_acu=0.5,
        aurora_max_acu=4,
        aurora_readers=0,
        backup_retention_days=7,
        authorizer_cache_ttl_seconds=300,
        throttle_rate_limit=100,
        throttle_burst_limit=200,
        api_logging_level="ERROR",
        waf=True,
        access_token_ttl_seconds=15 * 60,
        content_cors_origins=("https://staging.smartcourse.example",),
        app_base_url="https://staging.smartcourse.example",
        public_base_url="https://api.staging.smartcourse.example",
        analytics_base_url="https://analytics.staging.smartcourse.example",
        mail_from="no-reply@staging.smartcourse.example",
        mail_identity="staging.smartcourse.example",
        analytics_report_retention_days=30,
        analytics_archive_tiering_days=30,
    ),
    "prod": StageConfig(
        name="prod",
        default_memory_mb=1024,
        reserved_concurrency=25,
        authorizer_provisioned_concurrency=2,
        snap_start=True,
        log_level="INFO",
        log_retention=logs.RetentionDays.ONE_YEAR,
        removal_policy=RemovalPolicy.RETAIN,
        deletion_protection=True,
        alarms=True,
        nat_gateways=2,
        aurora_min_acu=0.5,
        aurora_max_acu=16,
        aurora_readers=1,
        backup_retention_days=14,
        authorizer_cache_ttl_seconds=300,
        throttle_rate_limit=500,
        throttle_burst_limit=1000,
        api_logging_level="ERROR",
        waf=True,
        access_token_ttl_seconds=15 * 60,
        content_cors_origins=("https://smartcourse.example", "https://www.smartcourse.example"),
        app_base_url="https://smartcourse.example",
        public_base_url="https://api.smartcourse.example",
        analytics_base_url="https://analytics.smartcourse.example",
        mail_from="no-reply@smartcourse.example",
        mail_identity="smartcourse.example",
        analytics_report_retention_days=90,
        analytics_archive_tiering_days=30,
    ),
}


def stage_config(stage: str | None) -> StageConfig:
    """The settings of ``stage`` (``None`` → ``dev``); :class:`UnknownStageError` for anything else."""
    name = (stage or "dev").strip()
    try:
        return _CONFIGS[name]
    except KeyError:
        raise UnknownStageError(name) from None
