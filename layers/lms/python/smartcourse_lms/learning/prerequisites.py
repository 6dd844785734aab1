"""Prerequisites form a DAG: no self-links, no cycles. Pure: the caller passes the edges it loaded."""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TypeVar

from smartcourse.errors import BadRequest, Conflict

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class PrerequisiteRef:
    id: uuid.UUID
    title: str

    def to_dict(self) -> dict[str, str]:
        return {"id": str(self.id), "title": self.title}


def would_create_cycle(edges: Mapping[K, AbstractSet[K]], course_id: K, prerequisite_id: K) -> bool:
    """Adding ``course → prerequisite`` closes a cycle iff the course is reachable from the prerequisite.

    ``edges`` maps a course to the ids of its prerequisites. Iterative, so long chains cannot exhaust
    the interpreter stack.
    """
    if course_id == prerequisite_id:
        return True
    seen: set[K] = {prerequisite_id}
    stack = [prerequisite_id]
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt == course_id:
                return True
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def check_prerequisite_link(edges: Mapping[K, AbstractSet[K]], course_id: K, prerequisite_id: K) -> None:
    if course_id == prerequisite_id:
        raise BadRequest("A course cannot be its own prerequisite")
    if would_create_cycle(edges, course_id, prerequisite_id):
        raise Conflict("This prerequisite would create a cycle")


def missing_prerequisites(required_ids: Iterable[K], completed_ids: AbstractSet[K]) -> list[K]:
    """Required courses without a completed enrollment, in the order given, each once."""
    missing: list[K] = []
    seen: set[K] = set()
    for required in required_ids:
        if required not in completed_ids and required not in seen:
            seen.add(required)
            missing.append(required)
    return missing
