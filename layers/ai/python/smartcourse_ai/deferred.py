"""The AI use cases as handlers get them: imported at init, the service modules only on the first call.

The service modules bring SQLAlchemy, the repositories and the providers (~150 ms of a cold start on a small
machine), which a handler's init must not pay for (``smartcourse.deferred``; primed before a SnapStart
snapshot). The embedding model is loaded later still, by the first request that embeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from smartcourse.deferred import defer

if TYPE_CHECKING:
    from smartcourse_ai.assistant import Assistant
    from smartcourse_ai.courses_service import CourseAI
    from smartcourse_ai.providers.base import GeneratedAnswer, Passage

defer("smartcourse_ai.service", "smartcourse.db.engine")


def get_assistant() -> Assistant:
    from smartcourse_ai.service import get_assistant as get

    return get()


def get_course_ai() -> CourseAI:
    from smartcourse_ai.service import get_course_ai as get

    return get()


def sources(answer: GeneratedAnswer, passages: Sequence[Passage]) -> list[Any]:
    """An answer's cited passages as response sources (``smartcourse_ai.assistant.sources``)."""
    from smartcourse_ai.assistant import sources as cited

    return cited(answer, passages)
