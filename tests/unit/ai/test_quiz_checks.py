"""Quiz questions are rejected when malformed or unsupported by the passages they cite."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from smartcourse_ai.providers.base import Passage, QuizQuestion
from smartcourse_ai.quiz_checks import quiz_problems, unsupported_reason

COURSE = uuid.UUID(int=1)
PASSAGE = Passage(
    chunk_id=uuid.UUID(int=10), course_id=COURSE, asset_id=uuid.UUID(int=2),
    heading_path="Personal Finance \u203a Interest \u203a Compound Interest",
    content=("Compound interest is interest calculated on the principal and on the interest already earned. "
             "Because the interest is added to the balance, each period's interest is larger than the last. "
             "Monthly compounding yields more than annual compounding at the same nominal rate."),
    score=0.9)
OTHER = dataclasses.replace(PASSAGE, chunk_id=uuid.UUID(int=11), heading_path="Personal Finance \u203a Inflation",
                            content="Inflation reduces the purchasing power of money over time.")
PASSAGES = {PASSAGE.chunk_id: PASSAGE, OTHER.chunk_id: OTHER}

GOOD = QuizQuestion(
    question="Fill in the blank: _____ is interest calculated on the principal and on the interest already earned.",
    options=("simple interest", "compound interest", "inflation rate", "savings account"),
    answer_index=1,
    explanation="Compound interest is interest calculated on ... (from Personal Finance \u203a Interest)",
    source_chunk_ids=(PASSAGE.chunk_id,))
# Written by an LLM: the correct option paraphrases the passage rather than quoting it.
FREE_FORM = QuizQuestion(
    question="Why does monthly compounding beat annual compounding at the same nominal rate?",
    options=("Interest is added to the balance more often, so later interest is earned on earlier interest",
             "The nominal rate is higher", "Inflation is lower", "Banks charge fewer fees"),
    answer_index=0, explanation="", source_chunk_ids=(PASSAGE.chunk_id,))


def test_good_questions_pass() -> None:
    assert unsupported_reason(GOOD, PASSAGES) is None
    assert unsupported_reason(FREE_FORM, PASSAGES) is None
    assert quiz_problems([GOOD, FREE_FORM], PASSAGES) == []


def test_case_and_whitespace_do_not_matter_for_support() -> None:
    question = dataclasses.replace(GOOD, options=("simple interest", "  Compound   INTEREST ", "inflation rate",
                                                  "savings account"))
    assert unsupported_reason(question, PASSAGES) is None


@pytest.mark.parametrize(("change", "reason"), [
    ({"question": "   "}, "empty"),
    ({"options": ("compound interest", "simple interest", "inflation rate")}, "3 options"),
    ({"options": ("simple interest", "compound interest", "Simple  Interest", "savings account")}, "distinct"),
    ({"options": ("simple interest", "compound interest", " ", "savings account")}, "empty"),
    ({"answer_index": 4}, "answer_index"),
    ({"answer_index": -1}, "answer_index"),
    ({"source_chunk_ids": ()}, "no source"),
    ({"source_chunk_ids": (uuid.UUID(int=99),)}, "not given"),
    ({"source_chunk_ids": (OTHER.chunk_id,)}, "support"),
    ({"answer_index": 0}, "support"),
    ({"question": "Fill in the blank: compound interest, or _____, is interest on interest."}, "appears"),
])
def test_each_kind_of_bad_question_is_rejected(change: dict[str, object], reason: str) -> None:
    question = dataclasses.replace(GOOD, **change)  # type: ignore[arg-type]
    found = unsupported_reason(question, PASSAGES)
    assert found is not None and reason in found


def test_a_paraphrase_needs_a_passage_about_the_question() -> None:
    off_topic = dataclasses.replace(FREE_FORM, question="What did the 2008 financial crisis teach regulators?")
    assert unsupported_reason(off_topic, PASSAGES) is not None
    invented = dataclasses.replace(FREE_FORM, options=("Regulators cap the number of compounding periods",
                                                       *FREE_FORM.options[1:]))
    assert unsupported_reason(invented, PASSAGES) is not None


def test_quiz_problems_numbers_problems_and_spots_repeats() -> None:
    bad = dataclasses.replace(GOOD, answer_index=7)
    problems = quiz_problems([GOOD, bad, GOOD], PASSAGES)
    assert problems[0].startswith("question 2: answer_index")
    assert problems[-1] == "question 3: repeats question 1"
