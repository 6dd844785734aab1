"""Deploy-time platform functions against the real services: migrations of every service database, topics."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

pytestmark = pytest.mark.infrastructure

ROOT = Path(__file__).resolve().parents[2]

PROBE_ENV = '''
from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
connection.commit()
'''

PROBE_REVISION = '''
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("probe_marker", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("probe_marker")
'''


@pytest.fixture
def migrations_root(tmp_path: Path) -> Path:
    """The real LMS migrations plus a ``probe`` service, and a folder without env.py (not a service)."""
    root = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations" / "lms", root / "lms", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "probe" / "versions").mkdir(parents=True)
    (root / "probe" / "env.py").write_text(PROBE_ENV)
    (root / "probe" / "versions" / "0001_probe.py").write_text(PROBE_REVISION)
    (root / "half-written" / "versions").mkdir(parents=True)
    return root




def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrated_services_need_an_alembic_environment(migrations_root: Path) -> None:
    from smartcourse.db.migrate import migrated_services

    assert migrated_services(migrations_root) == ["lms", "probe"]
    assert migrated_services(ROOT / "migrations")[0] == "lms"


def test_upgrade_all_creates_missing_databases_and_is_idempotent(postgres: Any, migrations_root: Path) -> None:
    from smartcourse.db.migrate import ensure_database, upgrade_all

    lms_name = f"smartcourse_lms_{uuid.uuid4().hex[:8]}"
    lms_url = postgres.database_url(lms_name)
    postgres.drop_database("smartcourse_probe")
    try:
        assert upgrade_all(lms_url, root=migrations_root) == ["lms", "probe"]
        assert "users" in _tables(lms_url)
        probe_url = f"{postgres.url}/smartcourse_probe"
        assert "probe_marker" in _tables(probe_url)
        assert "users" not in _tables(probe_url)
        # A second deploy: nothing to create, nothing to migrate, no error.
        assert ensure_database(lms_url, "smartcourse_probe") is False
        assert upgrade_all(lms_url, root=migrations_root) == ["lms", "probe"]
        engine = create_engine(probe_url)
        try:
            with engine.connect() as connection:
                assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
        finally:
            engine.dispose()
    finally:
        postgres.drop_database("smartcourse_probe")
        postgres.drop_database(lms_name)


def test_ensure_database_refuses_odd_names(postgres: Any) -> None:
    from smartcourse.db.migrate import ensure_database

    with pytest.raises(ValueError, match="not a database name"):
        ensure_database(f"{postgres.url}/postgres", 'x"; DROP DATABASE postgres; --')


def test_kafka_topics_function_creates_missing_topics_idempotently(kafka: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from kafka import KafkaAdminClient
    from platform_fns import kafka_topics
    from smartcourse.settings import get_settings

    suffix = uuid.uuid4().hex[:8]
    wanted = {f"probe-a-{suffix}": 2, f"probe-b-{suffix}": 3}
    kafka.create_topics([f"probe-b-{suffix}"], partitions=1)  # exists already: left as it is
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap)
    monkeypatch.setenv("KAFKA_AUTH", "plaintext")
    get_settings.cache_clear()
    event = {"RequestType": "Create", "ResourceProperties": {
        "ServiceToken": "arn:provider", "Topics": [{"Name": n, "Partitions": str(p)} for n, p in wanted.items()],
        "ReplicationFactor": "1"}}
    try:
        result = kafka_topics.handler(event, None)
        assert result == {"PhysicalResourceId": "smartcourse-kafka-topics", "Data": {"Created": f"probe-a-{suffix}"}}
        again = kafka_topics.handler({**event, "RequestType": "Update",
                                      "PhysicalResourceId": "smartcourse-kafka-topics"}, None)
        assert again["Data"] == {"Created": ""}
        deleted = kafka_topics.handler({**event, "RequestType": "Delete",
                                        "PhysicalResourceId": "smartcourse-kafka-topics"}, None)
        assert deleted == {"PhysicalResourceId": "smartcourse-kafka-topics"}
    finally:
        get_settings.cache_clear()
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    try:
        described = {t["topic"] if "topic" in t else t["name"]: len(t["partitions"])
                     for t in admin.describe_topics(list(wanted))}
    finally:
        admin.close()
    assert described == {f"probe-a-{suffix}": 2, f"probe-b-{suffix}": 1}  # Delete kept them
