"""``python -m stacks.openapi_export [--check]``: write docs/openapi/<api>.json from the route definitions.

The exported documents are the ones the APIs serve: each docs function ships its API's file in its code
asset (``openapi/<api>.json``) and fills in the server URL per request; a test keeps them fresh.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from smartcourse.catalogue import Service
from smartcourse.openapi import build_openapi

from stacks.services import APIS, api_functions


def render(service: str) -> str:
    api = Service(service)
    return json.dumps(build_openapi(api, api_functions(api)), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/openapi"))
    parser.add_argument("--check", action="store_true", help="exit 1 when a checked-in document is stale")
    args = parser.parse_args(argv)
    stale = []
    for service in APIS:
        path = args.out / f"{service}.json"
        text = render(service)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale OpenAPI documents: {', '.join(stale)} — run `make openapi` and commit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
