"""Prerequisites form a DAG: no self-links, no cycles."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smartcourse.errors import BadRequest, Conflict
from smartcourse_lms.learning.prerequisites import (
    PrerequisiteRef,
    check_prerequisite_link,
    missing_prerequisites,
    would_create_cycle,
)


def test_self_link_is_a_bad_request() -> None:
    course = uuid.uuid4()
    with pytest.raises(BadRequest):
        check_prerequisite_link({}, course, course)
    assert would_create_cycle({}, course, course)


def test_direct_and_transitive_cycles_are_detected() -> None:
    edges = {"b": {"a"}, "c": {"b"}}  # c needs b, b needs a
    assert would_create_cycle(edges, "a", "b")
    assert would_create_cycle(edges, "a", "c")
    assert not would_create_cycle(edges, "c", "a")
    assert not would_create_cycle(edges, "d", "c")
    with pytest.raises(Conflict):
        check_prerequisite_link(edges, "a", "c")
    check_prerequisite_link(edges, "c", "a")


def test_diamonds_are_not_cycles() -> None:
    edges = {"d": {"b", "c"}, "b": {"a"}, "c": {"a"}}
    assert not would_create_cycle(edges, "d", "a")
    assert would_create_cycle(edges, "a", "d")


def test_long_chains_do_not_exhaust_the_stack() -> None:
    edges = {i: {i - 1} for i in range(1, 20_000)}
    assert would_create_cycle(edges, 0, 19_999)
    assert not would_create_cycle(edges, 19_999, 0)


def _reachable(edges: dict[int, set[int]], start: int, target: int) -> bool:
    frontier, seen = {start}, {start}
    while frontier:
        if target in frontier:
            return True
        frontier = {n for f in frontier for n in edges.get(f, set())} - seen
        seen |= frontier
    return False


@given(st.dictionaries(st.integers(0, 7), st.sets(st.integers(0, 7), max_size=4), max_size=8),
       st.integers(0, 7), st.integers(0, 7))
def test_cycle_detection_matches_brute_force_reachability(edges: dict[int, set[int]], course: int,
                                                          prerequisite: int) -> None:
    assert would_create_cycle(edges, course, prerequisite) is _reachable(edges, prerequisite, course)


def test_missing_prerequisites_keeps_order_and_drops_duplicates() -> None:
    assert missing_prerequisites(["x", "y", "z", "x"], {"y"}) == ["x", "z"]
    assert missing_prerequisites(["x"], {"x", "w"}) == []
    assert missing_prerequisites([], set()) == []


def test_prerequisite_ref_serialises_for_the_422_body() -> None:
    ref = PrerequisiteRef(uuid.UUID(int=1), "Algebra")
    assert ref.to_dict() == {"id": "00000000-0000-0000-0000-000000000001", "title": "Algebra"}
