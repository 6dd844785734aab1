"""Whether a quiz question is well formed and answerable from the passages it cites.

Every generator's questions pass through here before a learner sees them: a question whose correct option the
course material does not support would teach something the course never said.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence

from smartcourse_ai.providers.base import Passage, QuizQuestion
from smartcourse_ai.text.sentences import content_stems, tokens

BLANK = "_____"
_OPTION_SHARE = 0.6  # of the correct option's content stems found in one source passage
_QUESTION_SHARE = 0.3  # of the question's content stems found in that same passage
# Words of the question's framing, not of its subject: they say nothing about which passage it comes from.
_FRAMING = frozenset({"fill", "blank", "follow", "true", "fals", "correct", "incorrect", "statement", "best",
                      "describ", "accord", "cours", "material", "question", "answer", "option", "choos", "select"})


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def _token_text(text: str) -> str:
    return " " + " ".join(tokens(text)) + " "


def _appears_in(option: str, content: str) -> bool:
    """Verbatim up to case and whitespace, or the same word sequence up to punctuation ("time-value" = "time value")."""
    if _normalise(option) in _normalise(content):
        return True
    words = _token_text(option)
    return words.strip() != "" and words in _token_text(content)


def _share(part: set[str], whole: set[str]) -> float:
    return len(part & whole) / len(part) if part else 0.0


def _supported(question: QuizQuestion, correct: str, sources: Sequence[Passage]) -> bool:
    if any(_appears_in(correct, p.content) for p in sources):
        return True
    # Free-form questions (written by an LLM) paraphrase: ask that one passage holds most of the answer's words
    # and is about what the question asks.
    option_stems = set(content_stems(correct))
    question_stems = set(content_stems(question.question)) - _FRAMING
    for passage in sources:
        passage_stems = set(content_stems(passage.content))
        if (_share(option_stems, passage_stems) >= _OPTION_SHARE
                and _share(question_stems, passage_stems) >= _QUESTION_SHARE):
            return True
    return False


def _gives_answer_away(question: str, correct: str) -> bool:
    pattern = r"(?<!\w)" + re.escape(_normalise(correct)) + r"(?!\w)"
    return re.search(pattern, _normalise(question)) is not None


def unsupported_reason(question: QuizQuestion, passages: Mapping[uuid.UUID, Passage]) -> str | None:
    """None when ``question`` is acceptable, else a short reason why not."""
    if not question.question.strip():
        return "the question is empty"
    options = tuple(question.options)
    if len(options) != 4:
        return f"it has {len(options)} options instead of 4"
    normalised = [_normalise(o) for o in options]
    if any(not o for o in normalised):
        return "an option is empty"
    if len(set(normalised)) != 4:
        return "its options are not distinct"
    index = question.answer_index
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 4:
        return f"answer_index {index!r} is not 0..3"
    if not question.source_chunk_ids:
        return "it cites no source passage"
    if any(chunk_id not in passages for chunk_id in question.source_chunk_ids):
        return "it cites a passage it was not given"
    correct = options[index]
    if BLANK in question.question and _gives_answer_away(question.question, correct):
        return "the blank's answer appears in the question"
    if not _supported(question, correct, [passages[c] for c in question.source_chunk_ids]):
        return "its source passages do not support the correct option"
    return None


def quiz_problems(questions: Sequence[QuizQuestion], passages: Mapping[uuid.UUID, Passage]) -> list[str]:
    """One line per problem ("question 2: ..."), numbered from 1; repeated questions count as a problem."""
    problems = []
    seen: dict[str, int] = {}
    for number, question in enumerate(questions, start=1):
        reason = unsupported_reason(question, passages)
        if reason is not None:
            problems.append(f"question {number}: {reason}")
        key = _normalise(question.question)
        if key in seen:
            problems.append(f"question {number}: repeats question {seen[key]}")
        else:
            seen[key] = number
    return problems
