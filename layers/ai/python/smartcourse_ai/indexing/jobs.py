"""The per-asset index job message (SQS body) and its outcomes. Pure."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class StaleJob(Exception):
    """The job belongs to a run that a newer one replaced (or to a course archived since): dropped."""


class RunNotCommitted(Exception):
    """The job arrived before the transaction that planned it committed: retried shortly."""


@dataclass(frozen=True)
class IndexJob:
    course_id: uuid.UUID
    asset_id: uuid.UUID
    run_id: uuid.UUID
    planned_at: datetime
    force: bool = False

    def to_json(self) -> str:
        return json.dumps({"course_id": str(self.course_id), "asset_id": str(self.asset_id),
                           "run_id": str(self.run_id), "planned_at": self.planned_at.isoformat(),
                           "force": self.force}, separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> IndexJob:
        data: Any = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("an index job is a JSON object")
        return cls(course_id=uuid.UUID(str(data["course_id"])), asset_id=uuid.UUID(str(data["asset_id"])),
                   run_id=uuid.UUID(str(data["run_id"])), planned_at=datetime.fromisoformat(data["planned_at"]),
                   force=bool(data.get("force", False)))
