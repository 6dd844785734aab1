"""Lambda SnapStart runtime hooks: what a snapshot must hold, and what a restored environment must renew.

Staging and prod run the API and consumer functions with SnapStart (docs/deploy.md): Lambda runs init once,
calls the before-snapshot hooks, snapshots the environment and restores copies of it for cold starts.

* Before the snapshot: import what init deferred (``smartcourse.deferred.prime``: SQLAlchemy, the service
  layer, the outbox-nudge client), so a restored function starts with it loaded; then drop every network
  connection (the database engine's pool, Kafka producers) and every cached secret value, none of which may
  be shared by the copies of one snapshot or outlive it.
* After a restore: new random state (every copy would otherwise draw the same ``random`` numbers), fresh AWS
  clients (their credentials and connections were the snapshot's; the modules and service models they load
  stay primed, so rebuilding one is cheap) and no connection: the engine and clients are built again on
  first use.

``register()`` is called by every entry point's module (``smartcourse.observability``); without the SnapStart
runtime module (a test, an older runtime) it does nothing. The hooks are plain functions, tested directly.
"""

from __future__ import annotations

import importlib
import logging
import random
import sys
import threading
import weakref
from collections.abc import Callable

from smartcourse import deferred

log = logging.getLogger("smartcourse.snapstart")

# (module, function) that forgets a cached AWS client; called only when the module was loaded (else it holds none).
CLIENT_RESETS: tuple[tuple[str, str], ...] = (
    ("smartcourse.aws_clients", "reset_clients"),
    ("smartcourse.storage", "reset_client"),
    ("smartcourse.secrets", "clear_cache"),  # cached secret values and the Secrets Manager client
    ("smartcourse.consumers.dlq", "reset_client"),
    ("smartcourse.outbox.nudge", "reset_clients"),
)

_closers: list[Callable[[], Callable[[], None] | None]] = []  # each gives the closer, or None once gone
_lock = threading.Lock()
_registered = False


def close_before_snapshot(close: Callable[[], None]) -> None:
    """Call ``close`` before a snapshot (and after a restore): say a Kafka producer's ``reset``.

    A bound method is held weakly: registering keeps its object alive no longer than its owner does.
    """
    ref = weakref.WeakMethod(close) if hasattr(close, "__self__") else (lambda: close)
    with _lock:
        _closers.append(ref)


def _loaded(module: str, function: str) -> Callable[[], None] | None:
    loaded = sys.modules.get(module)
    return getattr(loaded, function, None) if loaded is not None else None


def _drop_connections() -> None:
    reset_engine = _loaded("smartcourse.db.engine", "reset_engine")
    if reset_engine is not None:
        reset_engine()  # disposes the pool: its connections are closed
    with _lock:
        closers = [ref() for ref in _closers]
        _closers[:] = [ref for ref, close in zip(_closers, closers, strict=True) if close is not None]
    for close in closers:
        if close is not None:
            close()


def _reset_clients() -> None:
    for module, function in CLIENT_RESETS:
        reset = _loaded(module, function)
        if reset is not None:
            reset()


def before_snapshot() -> tuple[str, ...]:
    """Prime what init deferred, then drop connections and cached secrets; returns the primed modules."""
    primed = deferred.prime()
    _drop_connections()
    clear_secrets = _loaded("smartcourse.secrets", "clear_cache")
    if clear_secrets is not None:
        clear_secrets()
    log.info("snapshot: primed %d module(s), connections dropped", len(primed))
    return primed


def after_restore() -> None:
    """New random state, no connection, fresh AWS clients (each built again on first use)."""
    random.seed()
    _drop_connections()
    _reset_clients()


def register() -> bool:
    """Register the hooks with the SnapStart runtime (once); False where there is none."""
    global _registered
    if _registered:
        return True
    try:
        runtime = importlib.import_module("snapshot_restore_py")
    except ImportError:
        return False
    runtime.register_before_snapshot(before_snapshot)
    runtime.register_after_restore(after_restore)
    _registered = True
    return True
