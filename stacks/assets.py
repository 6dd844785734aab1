"""Lambda code and layer assets, bundled locally (no Docker).

Every asset uses CDK bundling with a *local* bundler, so ``cdk synth`` works
on a machine without Docker. The Docker image named in ``BundlingOptions`` is
never pulled: the local bundler always succeeds or raises.

Bundling honours the ``aws:cdk:bundling-stacks`` context like any CDK asset
(tests pass ``[]`` to skip it); a skipped asset points at its source folder,
which always exists.

* code, one asset per service: ``functions/<service>/`` and ``functions/platform_fns/``
  (the handlers every service shares: health, docs, outbox publisher) at the root
  (handler ``lms.auth.register.handler`` resolves from there), plus the API's exported
  OpenAPI document as ``openapi/<api>.json``; the platform functions' asset holds
  ``platform_fns/`` and ``migrations/``;
* code layer, one per service: ``python/smartcourse`` (the platform core),
  ``python/smartcourse_events`` (contracts) and ``python/smartcourse_<service>``;
  the platform layer holds every service's package (migrations import their tables);
* dependency layer, one per service: ``requirements/<service>.lock`` (exported from
  the service's dependency group of ``pyproject.toml``) installed as manylinux
  aarch64 / CPython 3.12 wheels by ``uv`` into ``python/``. Its asset hash is the
  lock file's hash, so it is rebuilt only when the lock changes.
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
LAYERS_DIR = ROOT / "layers"
CORE_SRC = LAYERS_DIR / "core" / "python" / "smartcourse"
EVENTS_SRC = ROOT / "events"
OPENAPI_DIR = ROOT / "docs" / "openapi"
REQUIREMENTS_DIR = ROOT / "requirements"
PLATFORM = "platform"  # the layer/asset name of the platform functions (migrations, topics)
SERVICE_PACKAGES = ("lms", "notification", "ai", "analytics")  # layers/<name>/python/smartcourse_<name>
UV = ROOT / ".venv" / "bin" / "uv"

LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PLATFORM = "aarch64-manylinux_2_28"  # Lambda arm64 (Amazon Linux 2023, glibc 2.34)
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64

# Metadata keys the local runner reads from the synthesized template.
LAYER_METADATA_KEY = "smartcourse:layer"
FUNCTION_METADATA_KEY = "smartcourse:function"
LAYER_OWNER_METADATA_KEY = "smartcourse:layer-owner"  # the service (or "platform") a layer belongs to

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
        for path in [source] if source.is_file() else _files(source):
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
            elif source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
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


def lock_file(layer: str) -> Path:
    """``requirements/<layer>.lock``: the service's dependency group (``platform``: the core's alone)."""
    return REQUIREMENTS_DIR / f"{layer}.lock"


def service_package_src(service: str) -> Path:
    return LAYERS_DIR / service / "python" / f"smartcourse_{service}"


def function_code(layer: str, api: str | None = None) -> lambda_.Code:
    """The handlers of ``layer`` (a service, or ``platform``) with the shared ``platform_fns``.

    ``api``: the REST API whose exported OpenAPI document the docs function serves (``openapi/<api>.json``).
    """
    trees: list[tuple[Path, str]] = [(FUNCTIONS_DIR / "platform_fns", "platform_fns")]
    if layer == PLATFORM:
        trees.append((MIGRATIONS_DIR, "migrations"))
    else:
        trees.append((FUNCTIONS_DIR / layer, layer))
    if api is not None:
        trees.append((OPENAPI_DIR / f"{api}.json", f"openapi/{api}.json"))
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=tree_hash(*trees, extra=f"code/v2/{layer}"),
        bundling=_bundling(CopyTrees(trees)),
    )


def code_layer_code(layer: str) -> lambda_.Code:
    """``python/smartcourse`` (core), ``python/smartcourse_events`` and the service's own package."""
    services = SERVICE_PACKAGES if layer == PLATFORM else (layer,)
    trees = (
        (CORE_SRC, "python/smartcourse"),
        (EVENTS_SRC / "smartcourse_events", "python/smartcourse_events"),
        *((service_package_src(s), f"python/smartcourse_{s}") for s in services),
    )
    return lambda_.Code.from_asset(
        str(LAYERS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=tree_hash(*trees, extra=f"code-layer/v1/{layer}"),
        bundling=_bundling(CopyTrees(trees)),
    )


def dependencies_layer_code(layer: str, *, placeholder: bool = False) -> lambda_.Code:
    """Third-party wheels from ``requirements/<layer>.lock``, for arm64 / CPython 3.12."""
    lock = lock_file(layer)
    lock_hash = hashlib.sha256(lock.read_bytes()).hexdigest()
    flavour = "placeholder" if placeholder else f"{LAMBDA_PLATFORM}-cp{LAMBDA_PYTHON_VERSION}"
    return lambda_.Code.from_asset(
        str(REQUIREMENTS_DIR),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=hashlib.sha256(f"deps/v1/{flavour}/{lock_hash}".encode()).hexdigest(),
        bundling=_bundling(UvInstallLayer(lock, placeholder=placeholder)),
    )
