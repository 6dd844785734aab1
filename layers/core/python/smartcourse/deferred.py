"""Modules a function imports on first use instead of in its init, and the one place that loads them early.

A cold start without SnapStart waits for init (import + module init), so a handler imports only light modules:
its resolver, its route's pydantic models, the catalogue. The service layer behind it (SQLAlchemy, the
repositories, the outbox-nudge client: most of the import cost) is imported by a cached getter on the first
request (each service package's ``deferred`` module). With SnapStart the snapshot is taken after init, so the
before-snapshot hook (:mod:`smartcourse.snapstart`) calls :func:`prime` and the restored environment has those
modules loaded after all: lazy in init, primed for the snapshot.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

_modules: list[str] = []
_primers: list[Callable[[], None]] = []


def defer(*modules: str) -> None:
    """Declare modules this process imports on first use (:func:`prime` imports them)."""
    _modules.extend(m for m in modules if m not in _modules)


def defer_call(primer: Callable[[], None]) -> None:
    """Declare work a first request would do that a snapshot should hold (building a client, say)."""
    if primer not in _primers:
        _primers.append(primer)


def deferred_modules() -> tuple[str, ...]:
    return tuple(_modules)


def prime() -> tuple[str, ...]:
    """Import every deferred module and run every primer now; returns the modules."""
    for name in list(_modules):
        importlib.import_module(name)
    for primer in list(_primers):
        primer()
    return tuple(_modules)
