"""TextRank-style sentence ranking."""

from __future__ import annotations

from smartcourse_ai.text.ranking import rank_sentences

SENTENCES = [
    "Compound interest is interest earned on both the principal and the interest already added to it.",
    "Ok.",
    "Because compound interest is added to the balance, the balance grows faster every period.",
    "The weather in the valley was pleasant during the conference last spring, everyone agreed.",
    "Compound interest is interest earned on both the principal and the interest already added to it!",
    "Monthly compounding adds interest to the balance twelve times a year, so the balance grows faster.",
    "Simple interest, unlike compound interest, is paid on the principal only and never grows.",
]


def test_central_sentences_win_in_original_order_without_duplicates() -> None:
    chosen = rank_sentences(SENTENCES, top_k=3)
    assert chosen == sorted(chosen)
    assert len(chosen) == 3
    assert 1 not in chosen  # too short
    assert 3 not in chosen  # off topic
    assert not {0, 4} <= set(chosen)  # near-duplicates


def test_top_k_and_character_budget() -> None:
    assert rank_sentences(SENTENCES, top_k=0) == []
    assert len(rank_sentences(SENTENCES, top_k=1)) == 1
    budgeted = rank_sentences(SENTENCES, top_k=5, max_chars=200)
    assert sum(len(SENTENCES[i]) + 1 for i in budgeted) - 1 <= 200


def test_deterministic_and_empty() -> None:
    assert rank_sentences(SENTENCES, top_k=3) == rank_sentences(list(SENTENCES), top_k=3)
    assert rank_sentences([], top_k=3) == []


def test_very_long_sentences_are_skipped() -> None:
    long = "Interest " + " ".join(["compounds and grows"] * 30) + "."
    chosen = rank_sentences([long, *SENTENCES], top_k=6)
    assert 0 not in chosen
