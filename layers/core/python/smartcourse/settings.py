"""Runtime settings, read once from the function's environment.

Every setting a function reads is named here, with its default. Secrets are
never settings: only the ARN of the Secrets Manager secret that holds them is
(see ``smartcourse.secrets``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from smartcourse.db.names import database_name


@dataclass(frozen=True)
class Settings:
    stage: str
    service: str
    # Database: a full URL (local cloud, external PostgreSQL) or, in AWS, the
    # RDS-generated credentials secret plus the proxy endpoint and db name.
    database_url: str | None
    db_secret_arn: str | None
    db_host: str | None
    db_port: int
    db_name: str
    # The migrate function only: JSON object of service -> its role's credentials secret (it creates the roles).
    db_service_secret_arns: str | None
    jwt_secret_arn: str | None
    jwt_issuer: str
    access_token_ttl_seconds: int
    refresh_token_ttl_seconds: int
    email_verification_ttl_seconds: int
    password_reset_ttl_seconds: int
    login_max_failures: int
    login_failure_window_seconds: int
    login_max_failures_per_ip: int
    kafka_bootstrap_servers: str | None
    aws_endpoint_url: str | None
    public_base_url: str
    # S3: bucket names (from the stack when the function has the grant) and content limits
    content_bucket: str | None
    certificate_bucket: str | None
    content_upload_url_ttl_seconds: int
    content_download_url_ttl_seconds: int
    content_max_bytes: int
    # Events: Kafka client auth ("iam" on MSK Serverless, else plaintext), the outbox publisher's tuning and
    # the function request handlers nudge after a commit that wrote outbox rows (unset: no nudge).
    kafka_auth: str
    outbox_publisher_function: str | None
    outbox_batch_size: int
    outbox_max_attempts: int
    outbox_nudge_connect_timeout_seconds: float
    outbox_nudge_read_timeout_seconds: float
    # Consumers: the SQS dead-letter queue for records that keep failing, and how often a record is tried.
    consumer_dlq_url: str | None
    consumer_max_attempts: int
    # Notifications: the send queue, the SES sender, the LMS function minting one-time tokens, web-app links.
    notification_queue_url: str | None
    mail_from: str
    token_issuer_function: str | None
    app_base_url: str
    # Receives of a message before SQS dead-letters it (an SQS-triggered function's queue: the stack passes its
    # redrive maxReceiveCount), and the base delay before a send whose projection is on its way is retried.
    trigger_queue_max_receives: int
    # The URL of an SQS-triggered function's own queue: to make a message it cannot handle yet visible again soon.
    trigger_queue_url: str | None
    notification_retry_delay_seconds: int
    # AI: providers ("extractive" / "minilm" by default, offline; "openai" = any OpenAI-compatible endpoint whose
    # key is in Secrets Manager), the index job queue, the LMS function saving quizzes, relevance and limits.
    ai_generator: str
    ai_embedder: str
    ai_openai_base_url: str | None
    ai_openai_chat_model: str
    ai_openai_embedding_model: str | None
    ai_openai_secret_arn: str | None
    ai_openai_timeout_seconds: float
    ai_index_queue_url: str | None
    ai_save_quiz_function: str | None
    ai_relevance_threshold: float | None
    ai_rate_limit_per_minute: int
    ai_monthly_token_quota: int
    ai_cost_per_1k_tokens: float
    # Analytics: its report queue, reports bucket and event archive bucket (the stack sets them per grant).
    analytics_report_queue_url: str | None
    reports_bucket: str | None
    archive_bucket: str | None
    # The analytics API's root, for links to it in messages (a report's page, which presigns a fresh download).
    analytics_base_url: str
    # The service's DynamoDB table of Idempotency-Key records (functions with a mutating route).
    idempotency_table: str | None


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ.get
    return Settings(
        stage=env("STAGE", "local"),
        service=env("SERVICE_NAME", "lms"),
        database_url=env("DATABASE_URL") or None,
        db_secret_arn=env("DB_SECRET_ARN") or None,
        db_host=env("DB_HOST") or None,
        db_port=_int("DB_PORT", 5432),
        db_name=env("DB_NAME") or database_name(env("SERVICE_NAME", "lms")),
        db_service_secret_arns=env("DB_SERVICE_SECRET_ARNS") or None,
        jwt_secret_arn=env("JWT_SECRET_ARN") or None,
        jwt_issuer=env("JWT_ISSUER", "smartcourse"),
        access_token_ttl_seconds=_int("ACCESS_TOKEN_TTL_SECONDS", 15 * 60),
        refresh_token_ttl_seconds=_int("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600),
        email_verification_ttl_seconds=_int("EMAIL_VERIFICATION_TTL_SECONDS", 24 * 3600),
        password_reset_ttl_seconds=_int("PASSWORD_RESET_TTL_SECONDS", 3600),
        login_max_failures=_int("LOGIN_MAX_FAILURES", 5),
        login_failure_window_seconds=_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60),
        login_max_failures_per_ip=_int("LOGIN_MAX_FAILURES_PER_IP", 50),
        kafka_bootstrap_servers=env("KAFKA_BOOTSTRAP_SERVERS") or None,
        aws_endpoint_url=env("AWS_ENDPOINT_URL") or None,
        public_base_url=env("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
        content_bucket=env("CONTENT_BUCKET") or None,
        certificate_bucket=env("CERTIFICATE_BUCKET") or None,
        content_upload_url_ttl_seconds=_int("CONTENT_UPLOAD_URL_TTL_SECONDS", 600),
        content_download_url_ttl_seconds=_int("CONTENT_DOWNLOAD_URL_TTL_SECONDS", 600),
        content_max_bytes=_int("CONTENT_MAX_BYTES", 2 * 1024 * 1024),
        kafka_auth=env("KAFKA_AUTH", "plaintext"),
        outbox_publisher_function=env("OUTBOX_PUBLISHER_FUNCTION") or None,
        outbox_batch_size=_int("OUTBOX_BATCH_SIZE", 500),
        outbox_max_attempts=_int("OUTBOX_MAX_ATTEMPTS", 10),
        outbox_nudge_connect_timeout_seconds=_float("OUTBOX_NUDGE_CONNECT_TIMEOUT_SECONDS", 1.0),
        outbox_nudge_read_timeout_seconds=_float("OUTBOX_NUDGE_READ_TIMEOUT_SECONDS", 2.0),
        consumer_dlq_url=env("CONSUMER_DLQ_URL") or None,
        consumer_max_attempts=_int("CONSUMER_MAX_ATTEMPTS", 3),
        notification_queue_url=env("NOTIFICATION_QUEUE_URL") or None,
        mail_from=env("MAIL_FROM", "no-reply@smartcourse.local"),
        token_issuer_function=env("TOKEN_ISSUER_FUNCTION") or None,
        app_base_url=env("APP_BASE_URL", "http://127.0.0.1:3000"),
        trigger_queue_max_receives=_int("TRIGGER_QUEUE_MAX_RECEIVES", 5),
        trigger_queue_url=env("TRIGGER_QUEUE_URL") or None,
        notification_retry_delay_seconds=_int("NOTIFICATION_RETRY_DELAY_SECONDS", 10),
        ai_generator=env("AI_GENERATOR", "extractive"),
        ai_embedder=env("AI_EMBEDDER", "minilm"),
        ai_openai_base_url=env("AI_OPENAI_BASE_URL") or None,
        ai_openai_chat_model=env("AI_OPENAI_CHAT_MODEL", "gpt-4o-mini"),
        ai_openai_embedding_model=env("AI_OPENAI_EMBEDDING_MODEL") or None,
        ai_openai_secret_arn=env("AI_OPENAI_SECRET_ARN") or None,
        ai_openai_timeout_seconds=_float("AI_OPENAI_TIMEOUT_SECONDS", 8.0),
        ai_index_queue_url=env("AI_INDEX_QUEUE_URL") or None,
        ai_save_quiz_function=env("AI_SAVE_QUIZ_FUNCTION") or None,
        ai_relevance_threshold=_float("AI_RELEVANCE_THRESHOLD", -1.0) if env("AI_RELEVANCE_THRESHOLD") else None,
        ai_rate_limit_per_minute=_int("AI_RATE_LIMIT_PER_MINUTE", 30),
        ai_monthly_token_quota=_int("AI_MONTHLY_TOKEN_QUOTA", 2_000_000),
        ai_cost_per_1k_tokens=_float("AI_COST_PER_1K_TOKENS", 0.0),
        analytics_report_queue_url=env("ANALYTICS_REPORT_QUEUE_URL") or None,
        reports_bucket=env("REPORTS_BUCKET") or None,
        archive_bucket=env("ARCHIVE_BUCKET") or None,
        analytics_base_url=env("ANALYTICS_BASE_URL", "http://127.0.0.1:8002"),
        idempotency_table=env("IDEMPOTENCY_TABLE") or None,
    )
