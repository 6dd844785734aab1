"""The SnapStart runtime hooks (``smartcourse.snapstart``), called directly as the runtime would call them.

Before the snapshot: the deferred imports are primed and the database connection is closed (seen from the
server); after a restore: new random state and new AWS clients. The registration reaches the runtime module.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import snapshot_restore_py
from smartcourse import aws_clients, snapstart
from smartcourse.db import engine as engine_module
from smartcourse.outbox import nudge
from smartcourse.outbox.publisher import OutboxPublisher
from smartcourse.settings import get_settings
from sqlalchemy import create_engine, text

from tests.support.paths import ROOT, pythonpath

pytestmark = pytest.mark.integration


@pytest.fixture
def database(postgres: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The process engine pointed at the test server (as a function's DATABASE_URL would)."""
    url = postgres.database_url("snapstart_hooks")
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    engine_module.reset_engine()
    yield url
    engine_module.reset_engine()
    get_settings.cache_clear()


def _backend_alive(admin_url: str, pid: int) -> bool:
    admin = create_engine(admin_url)
    try:
        with admin.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                     {"pid": pid}).scalar())
    finally:
        admin.dispose()


def test_before_snapshot_closes_the_pooled_database_connection(database: str) -> None:
    with engine_module.get_engine().connect() as conn:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    # Back in the pool, still open on the server: what a snapshot must not hold.
    assert _backend_alive(database, pid)

    snapstart.before_snapshot()

    deadline = time.monotonic() + 5
    while _backend_alive(database, pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _backend_alive(database, pid)
    # The next request connects again, on a new connection.
    with engine_module.get_engine().connect() as conn:
        assert int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()) != pid


def test_before_snapshot_closes_a_kafka_producer_and_holds_none_of_it() -> None:
    closed: list[float] = []

    class Producer:
        def close(self, timeout: float) -> None:
            closed.append(timeout)

    publisher = OutboxPublisher(engine=None, producer_factory=Producer)  # type: ignore[arg-type]
    first = publisher.producer()
    snapstart.before_snapshot()
    assert closed == [0]
    assert publisher.producer() is not first  # built again on first use after the restore
    del publisher, first
    snapstart.before_snapshot()  # a collected publisher is forgotten, not called
    assert closed == [0]


def test_after_restore_reseeds_random_and_renews_aws_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("OUTBOX_PUBLISHER_FUNCTION", "smartcourse-test-outbox-publisher")
    aws_clients.reset_clients()
    s3 = aws_clients.aws_client("s3", attempts=1, connect_timeout=1, read_timeout=1)
    nudge.prepare()
    nudge_client = nudge._client()

    random.seed(1234)
    snapshot_draws = [random.random() for _ in range(4)]
    random.seed(1234)  # the state every restored copy of one snapshot would start from
    snapstart.after_restore()
    assert [random.random() for _ in range(4)] != snapshot_draws

    assert aws_clients.aws_client("s3", attempts=1, connect_timeout=1, read_timeout=1) is not s3
    assert nudge._client() is not nudge_client
    aws_clients.reset_clients()
    nudge.reset_clients()


def test_register_hands_both_hooks_to_the_runtime() -> None:
    assert snapstart.register()
    assert snapstart.register()  # once: a second call registers nothing more
    before = [entry[0] for entry in snapshot_restore_py._before_snapshot_registry]
    after = [entry[0] for entry in snapshot_restore_py._after_restore_registry]
    assert before.count(snapstart.before_snapshot) == 1
    assert after.count(snapstart.after_restore) == 1


# A fresh interpreter, as a function's init: the handler loads without the service layer, the hook primes it.
_PRIME_PROBE = """
import json, sys
import lms.courses.list_courses
heavy = ("sqlalchemy", "smartcourse_lms.courses.service", "smartcourse.db.engine", "boto3", "botocore.client")
at_init = {m: m in sys.modules for m in heavy}
from smartcourse import snapstart
from smartcourse.outbox import nudge
primed = snapstart.before_snapshot()
print(json.dumps({"at_init": at_init, "after": {m: m in sys.modules for m in heavy}, "primed": list(primed),
                  "nudge_clients": len(nudge._clients)}))
"""


def test_init_defers_the_service_layer_and_the_snapshot_hook_primes_it() -> None:
    env = {**os.environ, "PYTHONPATH": pythonpath(), "SMARTCOURSE_FUNCTION": "lms-courses-list",
           "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1",
           "OUTBOX_PUBLISHER_FUNCTION": "smartcourse-test-lms-outbox-publisher"}
    out = subprocess.run([sys.executable, "-c", _PRIME_PROBE], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["at_init"] == {m: False for m in report["at_init"]}
    assert report["after"] == {m: True for m in report["after"]}
    assert "smartcourse_lms.courses.service" in report["primed"]
    assert report["nudge_clients"] == 1  # the outbox-nudge client is in the snapshot, built before it
