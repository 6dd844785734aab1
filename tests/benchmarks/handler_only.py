"""Run in a fresh interpreter with a function's environment: warm latency of handlers called in-process.

Usage (by run.py): python -m tests.benchmarks.handler_only EMAIL PASSWORD USER_ID N
Prints one JSON object: {name: [samples in ms]}.
"""

from __future__ import annotations

import json
import sys

from smartcourse.catalogue import function

from tests.benchmarks.latency import handler_call, time_calls
from tests.support.apigw import rest_event


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
    print(json.dumps(samples))


if __name__ == "__main__":
    main()
