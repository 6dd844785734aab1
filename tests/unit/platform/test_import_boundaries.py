"""The service boundaries (architecture.md, "A service is a unit") are a contract that `make lint` enforces.

The contract is import-linter's configuration in pyproject.toml. These tests run the real `lint-imports` on the
real tree (it passes) and on copies of the tree with one forbidden import injected (it fails, naming the
contract and the import), so the configuration is shown to catch what it is meant to catch.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.paths import ROOT, pythonpath

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
ROOT_PACKAGES: list[str] = CONFIG["root_packages"]


def lint_imports(cwd: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, name
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The root packages' sources and the contract, copied once (each test copies this small tree again)."""
    base = tmp_path_factory.mktemp("boundaries")
    shutil.copy(ROOT / "pyproject.toml", base / "pyproject.toml")
    for name in ROOT_PACKAGES:
        shutil.copytree(package_dir(name), base / "src" / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return base


def test_every_package_of_a_service_or_handler_folder_is_under_contract() -> None:
    folders = [*(ROOT / "layers").glob("*/python"), ROOT / "events", ROOT / "functions"]
    packages = {p.parent.name for folder in folders for p in folder.glob("*/__init__.py")}
    assert packages == set(ROOT_PACKAGES)


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT, pythonpath())
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONFIG['contracts'])} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(("module", "imported", "contract"), [
    ("smartcourse_ai.catalogue", "smartcourse_lms.courses.schemas", "The services are independent of each other"),
    ("smartcourse_lms.catalogue", "smartcourse_analytics", "The services are independent of each other"),
    ("smartcourse.catalogue", "smartcourse_notification.catalogue",
     "The platform core imports no service package and no handler package"),
    ("smartcourse.http", "platform_fns.health", "The platform core imports no service package and no handler package"),
    ("smartcourse_events.registry", "smartcourse.settings",
     "The event contracts import neither the core nor a service"),
    ("lms.consumers.course_processing", "smartcourse_notification.consumer",
     "LMS handlers import no other service's package, nor its handlers"),
    ("notification.list_mine", "smartcourse_lms.courses.schemas",
     "Notification handlers import no other service's package, nor its handlers"),
    ("analytics", "smartcourse_ai", "Analytics handlers import no other service's package, nor its handlers"),
    ("platform_fns.health", "smartcourse_lms.catalogue", "Platform handlers import no service package"),
])
def test_a_forbidden_import_breaks_the_contract(tree_copy: Path, tmp_path: Path, module: str, imported: str,
                                                contract: str) -> None:
    shutil.copytree(tree_copy, tmp_path, dirs_exist_ok=True)
    source = tmp_path / "src" / (module.replace(".", "/") + ".py")
    if not source.is_file():
        source = source.with_suffix("") / "__init__.py"
    source.write_text(source.read_text(encoding="utf-8") + f"\nimport {imported}  # injected by the test\n",
                      encoding="utf-8")

    result = lint_imports(tmp_path, str(tmp_path / "src"))

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{contract} BROKEN" in result.stdout
    assert f"{module} -> {imported}" in result.stdout


def test_an_indirect_import_through_the_core_breaks_the_contract_too(tree_copy: Path, tmp_path: Path) -> None:
    """LMS handler → core → notification package: the chain counts, not only the direct import."""
    shutil.copytree(tree_copy, tmp_path, dirs_exist_ok=True)
    core = tmp_path / "src" / "smartcourse" / "settings.py"
    core.write_text(core.read_text(encoding="utf-8") + "\nimport smartcourse_notification.rules  # injected\n",
                    encoding="utf-8")

    result = lint_imports(tmp_path, str(tmp_path / "src"))

    assert result.returncode == 1
    assert "LMS handlers import no other service's package, nor its handlers BROKEN" in result.stdout
    assert "The platform core imports no service package and no handler package BROKEN" in result.stdout
