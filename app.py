#!/usr/bin/env python3
"""The SmartCourse CDK app.

    cdk synth  -c stage=dev|staging|prod        # via cdk.json
    cdk deploy -c stage=prod --all
    python app.py [-c stage=prod] [-o cdk.out]  # standalone, offline, no credentials

Stacks are environment-agnostic (no account/region lookups), so synthesis
needs neither credentials nor network; ``cdk deploy`` targets the account and
region of the CLI's credentials. Run standalone, the app applies the same
feature flags as the CLI (from ``cdk.json``) and writes to ``CDK_OUTDIR`` or
``-o``, else ``cdk.out``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
for _path in (ROOT, *sorted((ROOT / "layers").glob("*/python")), ROOT / "events"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from aws_cdk import App  # noqa: E402

from stacks.app_builder import build, cdk_json_context  # noqa: E402
from stacks.stage_config import UnknownStageError  # noqa: E402


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", help="cloud assembly folder (default: $CDK_OUTDIR or cdk.out)")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                        help="context value, e.g. -c stage=prod (repeatable)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    # Defaults: cdk.json's context (the CLI passes it too, through CDK_CONTEXT_JSON, which wins).
    defaults: dict[str, Any] = {"aws:cdk:enable-asset-metadata": True, **cdk_json_context()}
    # Standalone `-c KEY=VALUE` beats both.
    overrides: dict[str, Any] = {}
    for item in args.context:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"error: -c expects KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        overrides[key] = value
    outdir = args.output or os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out")
    app = App(outdir=outdir, context=defaults, post_cli_context=overrides or None)
    try:
        build(app)
    except UnknownStageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
