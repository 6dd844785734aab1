"""The admin bootstrap command and the demo seed, against real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from smartcourse_lms.auth.passwords import fast_passwords_for_tests
from smartcourse_lms.seed import DEMO_USERS, seed_demo

from tests.support import auth as fixtures
from tests.support.auth import count, fresh_database
from tests.support.paths import pythonpath as support_pythonpath

lms_url, engine = fixtures.lms_url, fixtures.engine

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _bootstrap(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCOURSE_ADMIN_")}
    pythonpath = support_pythonpath()
    return subprocess.run([sys.executable, "-m", "localcloud.bootstrap_admin"], cwd=ROOT, text=True,
                          capture_output=True, env={**clean, "PYTHONPATH": pythonpath, "DATABASE_URL": url, **env},
                          timeout=120)


def test_bootstrap_admin_command(lms_url: str, engine: Any) -> None:
    missing = _bootstrap(lms_url)
    assert missing.returncode == 2 and "SMARTCOURSE_ADMIN_EMAIL" in missing.stderr
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    env = {"SMARTCOURSE_ADMIN_EMAIL": email.upper(), "SMARTCOURSE_ADMIN_PASSWORD": "Bootstrap-cli-1"}
    first = _bootstrap(lms_url, **env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created admin")
    again = _bootstrap(lms_url, **env)
    assert again.returncode == 0 and again.stdout.startswith("promoted admin")
    assert count(engine, "SELECT count(*) FROM users u JOIN user_roles r ON r.user_id = u.id "
                         "WHERE u.email = :e AND r.role = 'admin'", e=email) == 1
    weak = _bootstrap(lms_url, SMARTCOURSE_ADMIN_EMAIL="weak@example.com", SMARTCOURSE_ADMIN_PASSWORD="12345678")
    assert weak.returncode == 1


def test_seed_demo_is_idempotent(postgres: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = fresh_database(postgres, "seed")
    monkeypatch.setenv("SMARTCOURSE_ADMIN_EMAIL", "admin@smartcourse.local")
    monkeypatch.setenv("SMARTCOURSE_ADMIN_PASSWORD", "Admin-seed-pass-1")
    first = seed_demo(url, passwords=fast_passwords_for_tests())
    assert first["admin"]["created"] is True
    assert sorted(first["created"]) == sorted(email for email, *_ in DEMO_USERS)
    second = seed_demo(url, passwords=fast_passwords_for_tests())
    assert second["created"] == [] and second["admin"]["created"] is False
    assert sorted(second["existing"]) == sorted(first["created"])
