"""Property-based fuzzing of an API from its own OpenAPI document (schemathesis), as one caller.

Every operation gets schema-valid (positive) and schema-violating (negative) cases from a fixed seed,
half of them aimed at resources that exist (the caller's known ids fill the path parameters), and each
answer is checked: no 5xx, a status the document declares, the declared content type and body schema,
and schema-violating input refused. Failures are collected, not raised, so one run reports them all
and no time goes into shrinking.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
# A 204 has no content to check (the gateway still labels it application/json, as API Gateway does).
NO_CONTENT_CHECKS = [not_a_server_error, status_code_conformance, negative_data_rejection]
# Operations that end the caller's session run last, so the rest of the run still has a working token.
LAST = ("/api/v1/auth/logout",)


@dataclass(frozen=True)
class FuzzSettings:
    examples: int = 4  # per operation and caller (about 4 minutes for the three APIs on 2 cores)
    seed: int = 11
    seconds: float = 0.0  # > 0: repeat rounds with further seeds until this much time is spent
    timeout: float = 30.0

    @classmethod
    def from_env(cls) -> FuzzSettings:
        return cls(examples=int(os.environ.get("FUZZ_EXAMPLES", cls.examples)),
                   seed=int(os.environ.get("FUZZ_SEED", cls.seed)),
                   seconds=float(os.environ.get("FUZZ_SECONDS", cls.seconds)))


@dataclass(frozen=True)
class Caller:
    role: str
    token: str | None
    known_ids: dict[str, str] = field(default_factory=dict)  # path parameter name -> an id that exists

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclass
class FuzzReport:
    api: str
    role: str
    operations: int = 0
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # "METHOD path: check" -> first example

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        return (f"{self.api}/{self.role}: {self.operations} operations, {self.cases} cases, "
                f"{self.server_errors} 5xx, statuses {dict(sorted(self.statuses.items()))}")


def _brief(text: str, lines: int = 14, width: int = 400) -> str:
    """The failure's message without schemathesis' blank lines, cut to a readable size."""
    kept = [line[:width] for line in text.splitlines() if line.strip()]
    return "\n".join(kept[:lines])


def _operations(document: dict[str, Any]) -> list[Any]:
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda op: (op.path in LAST, op.path, op.method))


def _strategy(operation: Any, caller: Caller) -> st.SearchStrategy[Any]:
    known = {p.name: caller.known_ids[p.name] for p in operation.path_parameters if p.name in caller.known_ids}
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # The caller's token is fixed, not generated: a negative case must not count a dropped header as the
    # violation when the token is sent anyway.
    headers = caller.headers or None
    strategies = [operation.as_strategy(generation_mode=mode, headers=headers) for mode in modes]
    if known:
        strategies += [operation.as_strategy(generation_mode=mode, headers=headers, path_parameters=known)
                       for mode in modes]
    return st.one_of(strategies)


def _run_operation(operation: Any, caller: Caller, base_url: str, session: requests.Session,
                   options: FuzzSettings, run_seed: int, report: FuzzReport) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    def exercise(case: Any) -> None:
        report.cases += 1
        try:
            response = case.call(base_url=base_url, session=session, headers=caller.headers,
                                 timeout=options.timeout)
        except requests.RequestException as exc:
            report.failures.setdefault(f"{label}: transport", f"{type(exc).__name__}: {exc}")
            return
        report.statuses[response.status_code] += 1
        try:
            checks = NO_CONTENT_CHECKS if response.status_code == 204 and not response.content else CHECKS
            case.validate_response(response, checks=checks, headers=caller.headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                report.failures.setdefault(f"{label}: {failure.title}", _brief(str(group)))

    run: Callable[[], None] = settings(
        max_examples=options.examples, deadline=None, database=None, derandomize=False,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )(seed(run_seed)(given(_strategy(operation, caller))(exercise)))
    run()


def fuzz(api: str, base_url: str, document: dict[str, Any], caller: Caller, options: FuzzSettings,
         only: Iterable[str] = ()) -> FuzzReport:
    """Fuzz every operation of ``document`` (or those whose path contains one of ``only``) at ``base_url``."""
    report = FuzzReport(api, caller.role)
    operations = [op for op in _operations(document) if not only or any(part in op.path for part in only)]
    report.operations = len(operations)
    started = time.monotonic()
    round_no = 0
    with requests.Session() as session:
        while True:
            for operation in operations:
                _run_operation(operation, caller, base_url, session, options, options.seed + round_no, report)
            round_no += 1
            if time.monotonic() - started >= options.seconds:
                return report
