"""BM25 lexical scores, normalised to 0..1."""

from __future__ import annotations

from smartcourse_ai.text.similarity import lexical_scores

SENTENCES = [
    "Compound interest is interest calculated on the principal and on the interest already earned.",
    "Inflation reduces the purchasing power of money over time.",
    "The rule of 72 estimates how long an investment takes to double.",
    "Banks advertise the annual percentage yield on savings accounts.",
]


def test_the_matching_sentence_scores_highest_and_scores_stay_in_range() -> None:
    scores = lexical_scores("How does compound interest work?", SENTENCES)
    assert len(scores) == len(SENTENCES)
    assert max(range(len(scores)), key=scores.__getitem__) == 0
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[1] == scores[2] == 0.0


def test_inflected_forms_match_and_stopwords_do_not() -> None:
    assert lexical_scores("investments doubling", SENTENCES)[2] > 0.5
    assert lexical_scores("what is the of", SENTENCES) == [0.0] * 4


def test_scores_are_absolute_not_relative_to_the_best() -> None:
    # Only one of three query terms occurs anywhere: no candidate looks like a full match.
    scores = lexical_scores("inflation mortgage amortisation", SENTENCES)
    assert 0.0 < scores[1] < 0.5


def test_no_candidates() -> None:
    assert lexical_scores("interest", []) == []
