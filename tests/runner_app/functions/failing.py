"""Raises: the gateway must answer 502 like API Gateway."""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise ValueError("sample failure")
