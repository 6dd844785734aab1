"""Synthesize the CDK app into a cloud assembly the local runner reads.

The assembly is rebuilt only when a file that shapes it (stacks, catalogue,
functions, layers, events, migrations) changed since the last synth.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Everything the synthesized template and its assets are made from (the code assets carry the exported OpenAPI
# documents; the dependency layers' hashes come from the locks).
SOURCES = ("app.py", "cdk.json", "stacks", "functions", "layers", "events", "migrations", "docs/openapi",
           "requirements")
STAMP = ".source-hash"


def source_hash(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        base = root / name
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def synthesize(outdir: Path, stage: str = "dev", *, root: Path = ROOT, force: bool = False) -> Path:
    """Run ``app.py`` (as ``cdk synth`` would) into ``outdir``; returns ``outdir``."""
    wanted = source_hash(root)
    stamp = outdir / STAMP
    if not force and stamp.exists() and stamp.read_text() == wanted and (outdir / "manifest.json").exists():
        return outdir
    outdir.mkdir(parents=True, exist_ok=True)
    context = {"stage": stage, "smartcourse:local": "true"}
    env = {
        **os.environ,
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps(context),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    subprocess.run([sys.executable, "app.py"], cwd=root, env=env, check=True)
    stamp.write_text(wanted)
    return outdir
