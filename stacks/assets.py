"""Lambda code and layer assets, bundled locally (no Docker).

Every asset uses CDK bundling with a *local* bundler, so ``cdk synth`` works
on a machine without Docker. The Docker image named in ``BundlingOptions`` is
never pulled: the local bundler always succeeds or raises.

Bundling honours the ``aws:cdk:bundling-stacks`` context like any CDK asset
(tests pass ``[]`` to skip it); a skipped asset points at its source folder,
which always exists.

* code: ``functions/`` + ``migrations/`` at the root of one asset, shared by
  every function (handler ``lms.auth.register.handler`` resolves from the root);
* shared layer: ``python/smartcourse`` and ``python/smartcourse_events``;
* dependency layer: ``requirements/runtime.lock`` installed as manylinux
  aarch64 / CPython 3.12 wheels by ``uv`` into ``python/``. Its asset hash is
  the lock file's hash, so it is rebuilt only when the lock changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
MIGRATIONS_DIR = ROOT / "migrations"
SHARED_LAYER_SRC = ROOT / "layers" / "shared" / "python"
EVENTS_SRC = ROOT / "events"
REQUIREMENTS_DIR = ROOT / "requirements"
RUNTIME_LOCK = REQUIREMENTS_DIR / "runtime.lock"
UV = ROOT / ".venv" / "bin" / "uv"

LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PLATFORM = "aarch64-manylinux_2_28"  # Lambda arm64 (Amazon Linux 2023, glibc 2.34)
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64

# Metadata keys the local runner reads from the synthesized template.
LAYER_METADATA_KEY = "smartcourse:layer"
FUNCTION_METADATA_KEY = "smartcourse:function"

_IGNORED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_IGNORED_SUFFIXES = {".pyc", ".pyo"}
_UNUSED_IMAGE = DockerImage.from_registry("unused")  # never pulled: bundling is always local


def _ignore(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _IGNORED_DIRS or Path(n).suffix in _IGNORED_SUFFIXES}


def _files(base: Path) -> Iterable[Path]:
    if not base.exists():
        return []
    return sorted(
        p for p in base.rglob("*")
        if p.is_file() and not (_IGNORED_DIRS & set(p.relative_to(base).parts)) and p.suffix not in _IGNORED_SUFFIXES
    )


def tree_hash(*trees: tuple[Path, str], extra: str = "") -> str:
    """A content hash of ``(source, destination)`` trees: relative paths and bytes, caches ignored."""
    digest = hashlib.sha256(extra.encode())
    for source, dest in trees:
        for path in _files(source):
            digest.update(f"{dest}/{path.relative_to(source).as_posix()}".encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class CopyTrees:
    """Local bundler: copy ``(source, destination-relative-to-output)`` trees, caches excluded."""

    def __init__(self, trees: Sequence[tuple[Path, str]]) -> None:
        self.trees = tuple(trees)

    def try_bundle(self, output_dir: str, *_options: Any) -> bool:
        out = Path(output_dir)
        for source, dest in self.trees:
            target = out / dest if dest else out
            if source.is_dir():
                shutil.copytree(source, target, ignore=_ignore, dirs_exist_ok=True)
        return True


@jsii.implements(ILocalBundling)
class UvInstallLayer:
    """Local bundler: install the lock file's wheels for Lambda arm64 / Python 3.12 into ``python/``.

    With ``placeholder`` (the local cloud: it substitutes its own virtualenv for
    this layer) nothing is downloaded and the layer holds only a README.
    """

    def __init__(self, lock: Path, *, placeholder: bool = False) -> None:
        self.lock = lock
        self.placeholder = placeholder

    def try_bundle(self, output_dir: str, *_options: Any) -> bool:
        target = Path(output_dir) / "python"
        target.mkdir(parents=True, exist_ok=True)
        if self.placeholder:
            (target / "README.txt").write_text(
                "Placeholder: the local cloud runs functions against the project virtualenv.\n"
            )
            return True
        uv = str(UV) if UV.exists() else (shutil.which("uv") or "uv")
        command = [
            uv, "pip", "install", "--quiet",
            "--target", str(target),
            "--python-platform", LAMBDA_PLATFORM,
            "--python-version", LAMBDA_PYTHON_VERSION,
            "--only-binary", ":all:",
            "--link-mode", "copy",
            "-r", str(self.lock),
        ]
        subprocess.run(command, check=True)  # noqa: S603 - fixed argv, no shell
        shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: useless in a layer
        return True


def _bundling(local: Any) -> BundlingOptions:
    return BundlingOptions(image=_UNUSED_IMAGE, local=local)


def function_code() -> lambda_.Code:
    """One asset for every function: ``functions/`` and ``migrations/`` at the root."""
    trees = ((FUNCTIONS_DIR, ""), (MIGRATIONS_DIR, "migrations"))
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=tree_hash(*trees, extra="code/v1"),
        bundling=_bundling(CopyTrees(trees)),
    )


def shared_layer_code() -> lambda_.Code:
    """``python/smartcourse`` (domain, adapters, settings) and ``python/smartcourse_events`` (contracts)."""
    trees = (
        (SHARED_LAYER_SRC / "smartcourse", "python/smartcourse"),
        (EVENTS_SRC / "smartcourse_events", "python/smartcourse_events"),
    )
    return lambda_.Code.from_asset(
        str(SHARED_LAYER_SRC),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=tree_hash(*trees, extra="shared-layer/v1"),
        bundling=_bundling(CopyTrees(trees)),
    )


def dependencies_layer_code(*, placeholder: bool = False) -> lambda_.Code:
    """Third-party wheels from ``requirements/runtime.lock``, for arm64 / CPython 3.12."""
    lock_hash = hashlib.sha256(RUNTIME_LOCK.read_bytes()).hexdigest()
    flavour = "placeholder" if placeholder else f"{LAMBDA_PLATFORM}-cp{LAMBDA_PYTHON_VERSION}"
    return lambda_.Code.from_asset(
        str(REQUIREMENTS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=hashlib.sha256(f"deps/v1/{flavour}/{lock_hash}".encode()).hexdigest(),
        bundling=_bundling(UvInstallLayer(RUNTIME_LOCK, placeholder=placeholder)),
    )
