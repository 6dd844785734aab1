"""Run in a fresh interpreter with a function's environment: warm latency of handlers called in-process.

Usage (by run.py): python -m tests.benchmarks.handler_only EMAIL PASSWORD USER_ID N [LMS_JSON]
LMS_JSON names a file ``{"courses": [{course_id, module_id, asset_id}], "n_writes": int}``: this run's slice
of the bench courses for the LMS domain workload (tests/benchmarks/lms_workload.py).
Prints one JSON object: {name: [samples in ms]}.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from stacks.services import function
from tests.benchmarks import lms_workload
from tests.benchmarks.latency import handler_call, time_calls
from tests.benchmarks.lms_data import BenchCourse
from tests.support.apigw import body_of, rest_event


def _lms(user_id: str, spec: dict[str, Any], n: int) -> dict[str, list[float]]:
    handlers: dict[str, Any] = {}

    def send(name: str, path_params: dict[str, str], body: Any, query: dict[str, str] | None) -> tuple[int, Any]:
        fn = function(name)
        if name not in handlers:
            handlers[name] = importlib.import_module(fn.module).handler
        result = handlers[name](rest_event(fn, path_params=path_params, body=body, query=query,
                                           principal=(user_id, "student")), None)
        return result["statusCode"], body_of(result)

    courses = [BenchCourse(**c) for c in spec["courses"]]
    return {f"{name} handler": samples
            for name, samples in lms_workload.run(send, courses, n, int(spec["n_writes"])).items()}


def main() -> None:
    email, password, user_id, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    login, me, health = function("lms-auth-login"), function("lms-auth-me"), function("lms-health")
    samples = {
        "login handler": time_calls(handler_call(
            login.module, lambda: rest_event(login, body={"email": email, "password": password}), 200),
            max(20, n // 5)),
        "me handler": time_calls(handler_call(me.module, lambda: rest_event(me, principal=(user_id, "student")), 200),
                                 n),
        "health handler": time_calls(handler_call(health.module, lambda: rest_event(health), 200), n),
    }
    if len(sys.argv) > 5:
        samples.update(_lms(user_id, json.loads(Path(sys.argv[5]).read_text()), n))
    print(json.dumps(samples))


if __name__ == "__main__":
    main()
