"""Helpers for the e2e tests: accounts, tokens and row counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import psycopg


@dataclass
class Account:
    id: str
    email: str
    password: str
    token: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@e2e.smartcourse.local"


def login(http: httpx.Client, email: str, password: str) -> dict:
    response = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def register(http: httpx.Client, role: str = "student", password: str = "Str0ng-pass") -> Account:
    email = unique_email(role)
    created = http.post("/api/v1/auth/register", json={"email": email, "password": password, "role": role,
                                                        "full_name": f"E2E {role}"})
    assert created.status_code == 201, created.text
    tokens = login(http, email, password)
    return Account(created.json()["id"], email, password, tokens["access_token"], tokens["refresh_token"])


def count(db: psycopg.Connection, sql: str, *params: object) -> int:
    row = db.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])
