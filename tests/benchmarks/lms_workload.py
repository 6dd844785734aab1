"""The LMS domain workload, the same through the gateway and on handlers alone.

``send(function_name, path_params, body, query) -> (status, json body)`` hides the transport. Reads cycle
over the 1,000 published courses; every timed enrollment is a new one (one course of the slice per call,
capacity unlimited); every timed progress call is a real write on an active enrollment's asset: the first
round creates the asset's progress row, later rounds raise its percent (kept below 100, so no call
completes a course).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from tests.benchmarks.latency import time_calls
from tests.benchmarks.lms_data import BenchCourse

Send = Callable[[str, dict[str, str], Any, dict[str, str] | None], tuple[int, Any]]

READS = ("list courses", "get course")
WRITES = ("create enrollment", "record progress")
WARMUP = 5
PROGRESS_ENROLLMENTS = 50  # progress calls cycle over this many enrollments, percent rising each round


def slice_size(n_writes: int) -> int:
    """Courses a run of the workload enrolls in (timed calls + warm-up)."""
    return n_writes + WARMUP


def run(send: Send, courses: list[BenchCourse], n: int, n_writes: int) -> dict[str, list[float]]:
    """Samples per operation; ``courses`` is this run's own slice (``slice_size(n_writes)`` fresh courses)."""
    assert len(courses) >= slice_size(n_writes), (len(courses), n_writes)
    readable: Iterator[BenchCourse] = itertools.cycle(courses)

    def list_courses() -> None:
        status, body = send("lms-courses-list", {}, None, {"limit": "20"})
        assert status == 200 and len(body["items"]) == 20 and body["total"] >= 1000, (status, body)

    def get_course() -> None:
        status, body = send("lms-courses-get", {"course_id": next(readable).course_id}, None, None)
        assert status == 200 and body["modules_count"] == 1, (status, body)

    fresh = iter(courses)
    enrolled: list[tuple[str, str]] = []  # (enrollment id, asset id)

    def create_enrollment() -> None:
        course = next(fresh)
        status, body = send("lms-enrollments-create", {}, {"course_id": course.course_id}, None)
        assert status == 201 and body["status"] == "active", (status, body)
        enrolled.append((body["id"], course.asset_id))

    calls = itertools.count()

    def record_progress() -> None:
        i = next(calls)
        targets = enrolled[:PROGRESS_ENROLLMENTS]
        enrollment_id, asset_id = targets[i % len(targets)]
        percent = min(99, 1 + i // len(targets))
        status, body = send("lms-progress-record", {"asset_id": asset_id},
                            {"enrollment_id": enrollment_id, "progress_percent": percent, "time_spent_seconds": 5},
                            None)
        assert status == 200, (status, body)

    return {
        "list courses": time_calls(list_courses, n, WARMUP),
        "get course": time_calls(get_course, n, WARMUP),
        "create enrollment": time_calls(create_enrollment, n_writes, WARMUP),
        "record progress": time_calls(record_progress, n_writes, WARMUP),
    }
