"""Every function imports with only what its layers hold: its service's lock, its service's package.

A function's dependency layer is built from one lock (``requirements/<service>.lock``; the platform
functions': ``platform.lock``) and its code layer holds the core, the contracts and its own service's
package. The virtualenv the tests run in has everything, so an import of another group's package (e.g. the
notification's jinja2 reached from the tables the migrate function imports) would pass every other test and
fail only in AWS. Here each layer's modules are imported in a subprocess that refuses any installed
distribution the lock does not name, and any service package but the layer's own.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys

import pytest
from smartcourse.catalogue import PLATFORM_FUNCTIONS, Service

from stacks import assets
from stacks.services import CATALOGUES
from tests.support.paths import ROOT, pythonpath

_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", re.MULTILINE)
_SERVICE_PACKAGES = {f"smartcourse_{s}" for s in assets.SERVICE_PACKAGES}

# Runs in the subprocess: refuse the top-level modules named in argv[1], then import argv[2]'s modules.
_SCRIPT = """
import importlib, json, sys
blocked = set(json.loads(sys.argv[1]))

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".", 1)[0] in blocked:
            raise ModuleNotFoundError(f"{name} is not in this layer", name=name)
        return None

sys.meta_path.insert(0, Refuse())
for module in json.loads(sys.argv[2]):
    importlib.import_module(module)
"""


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def blocked_modules(layer: str) -> set[str]:
    """Installed top-level modules whose distribution the layer's lock does not pin, and other services'."""
    pinned = {_normalise(n) for n in _PINNED.findall(assets.lock_file(layer).read_text())}
    blocked = {top for top, dists in importlib.metadata.packages_distributions().items()
               if not any(_normalise(d) in pinned for d in dists)}
    own = set() if layer == assets.PLATFORM else {f"smartcourse_{layer}"}
    return blocked | (_SERVICE_PACKAGES - own if layer != assets.PLATFORM else set())


def modules_of(layer: str) -> list[str]:
    if layer == assets.PLATFORM:
        handlers = [f.module for f in PLATFORM_FUNCTIONS]
        # What the migrations' environments import (each service's tables), as the migrate function does.
        env_imports = [m for env in sorted((ROOT / "migrations").glob("*/env.py"))
                       for m in re.findall(r"^from (smartcourse\w*(?:\.\w+)*) import", env.read_text(), re.M)]
        return sorted({*handlers, *env_imports})
    return sorted({f.module for f in CATALOGUES[Service(layer)].functions})


@pytest.mark.parametrize("layer", [assets.PLATFORM, *assets.SERVICE_PACKAGES])
def test_each_layers_functions_import_with_only_that_layers_packages(layer: str) -> None:
    modules = modules_of(layer)
    assert modules
    env = {"PYTHONPATH": pythonpath(), "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1",
           "SERVICE_NAME": layer, "HOME": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(sorted(blocked_modules(layer))),
                             json.dumps(modules)], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_guard_refuses_what_a_layer_lacks() -> None:
    """The check above can fail: the platform layer has no jinja2, the LMS layer no notification package."""
    assert "jinja2" in blocked_modules(assets.PLATFORM)
    assert {"smartcourse_notification", "jinja2"} <= blocked_modules("lms")
    assert "jinja2" not in blocked_modules("notification") and "smartcourse_lms" in blocked_modules("notification")
    env = {"PYTHONPATH": pythonpath(), "PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(sorted(blocked_modules(assets.PLATFORM))),
                             json.dumps(["smartcourse_notification.rendering"])], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode != 0 and "jinja2 is not in this layer" in result.stderr
