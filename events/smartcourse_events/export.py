"""Export the event contracts as JSON Schema files.

``python -m stacks.events_export [--check] [--out docs/events]`` (``make events``) writes

* ``envelope.json``: the envelope every event travels in;
* ``<event_type>.v<version>.json``: one payload schema per event type and version;
* ``index.json``: event type → topic, producer, consumers and schema file(s).

The consumers are not part of the contract: they are passed in (``consumers``: event type → services), and
the entry point above derives them from the consumer functions' declarations (``stacks.services.consumers_of``).

Output is deterministic (sorted keys, two-space indent, trailing newline), so
the files can be committed and reviewed. ``--check`` writes nothing: it exits
1 and names every stale, missing or orphaned file when the export differs from
what is on disk (``make events`` regenerates them).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from smartcourse_events.registry import REGISTRY, ROUTES, json_schemas

Consumers = Mapping[str, Sequence[str]]  # event type → the services consuming it (a type not in it: none)

DEFAULT_OUT = Path("docs/events")
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE_FILE = "envelope.json"
INDEX_FILE = "index.json"


def _dumps(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_file(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.json"


def _consumers_of(consumers: Consumers) -> dict[str, list[str]]:
    known = {event_type for event_type, _version in REGISTRY}
    if unknown := set(consumers) - known:
        raise ValueError(f"consumers given for event types without a contract: {sorted(unknown)}")
    return {event_type: sorted(consumers.get(event_type, ())) for event_type in known}


def render(consumers: Consumers) -> dict[str, str]:
    """File name → file content of the whole export."""
    readers = _consumers_of(consumers)
    schemas = json_schemas()
    for (event_type, version) in REGISTRY:
        schemas[f"{event_type}.v{version}"]["x-consumers"] = readers[event_type]
    files: dict[str, str] = {}
    envelope = {"$schema": JSON_SCHEMA_DIALECT, **schemas.pop("envelope")}
    files[ENVELOPE_FILE] = _dumps(envelope)

    events: dict[str, Any] = {}
    topics: dict[str, list[str]] = {}
    for (event_type, version), model in sorted(REGISTRY.items()):
        name = schema_file(event_type, version)
        files[name] = _dumps({"$schema": JSON_SCHEMA_DIALECT, **schemas[f"{event_type}.v{version}"]})
        entry = events.setdefault(event_type, {
            "topic": model.topic,
            "aggregate_type": model.aggregate_type,
            "producer": ROUTES[event_type].producer,
            "consumers": readers[event_type],
            "versions": {},
        })
        entry["versions"][str(version)] = name
        entry["latest_version"] = version  # sorted, so the last one wins
        entry["schema"] = name
        topics.setdefault(model.topic, [])
        if event_type not in topics[model.topic]:
            topics[model.topic].append(event_type)

    files[INDEX_FILE] = _dumps({"envelope": ENVELOPE_FILE, "events": events, "topics": topics})
    return files


def write(out: Path, consumers: Consumers) -> list[str]:
    """Write the export into ``out``; return the names of the files that changed (orphans are removed)."""
    out.mkdir(parents=True, exist_ok=True)
    changed = stale_files(out, consumers)
    files = render(consumers)
    for name in changed:
        path = out / name
        if name in files:
            path.write_text(files[name], encoding="utf-8")
        else:
            path.unlink()
    return changed


def stale_files(out: Path, consumers: Consumers) -> list[str]:
    """Names of the files in ``out`` that differ from the export, are missing, or are no longer exported."""
    files = render(consumers)
    stale = [name for name, content in files.items()
             if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != content]
    if out.is_dir():
        stale += [p.name for p in out.glob("*.json") if p.name not in files]
    return sorted(stale)


def main(argv: Sequence[str] | None = None, *, consumers: Consumers,
         prog: str = "python -m stacks.events_export") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files on disk are stale")
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.check:
        stale = stale_files(out, consumers)
        if stale:
            print(f"stale event schemas in {out} (run `make events`):", file=sys.stderr)
            for name in stale:
                print(f"  {name}", file=sys.stderr)
            return 1
        print(f"event schemas in {out} are up to date")
        return 0
    changed = write(out, consumers)
    print(f"wrote {len(render(consumers))} files to {out} ({len(changed)} changed)")
    return 0
