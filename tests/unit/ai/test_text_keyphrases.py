"""Key phrases of a course and the cloze helpers built on them."""

from __future__ import annotations

from smartcourse_ai.text.cloze import BLANK, blank_out, pick_distractors, similarity
from smartcourse_ai.text.keyphrases import GENERIC_WORDS, find_phrase, key_phrases, phrase_key

FINANCE = [
    "Simple interest is calculated only on the principal. If you deposit $1,000 at 5% simple interest, you earn "
    "$50 every year. For example, the simple interest never grows because the principal never changes.",
    "Compound interest is interest calculated on the principal and on the interest already earned. Over long "
    "periods compound interest makes savings grow exponentially. Monthly compounding yields more than annual "
    "compounding at the same nominal rate, which is one way compound interest helps savers.",
    "Inflation reduces the purchasing power of money. A savings account whose interest rate is below the "
    "inflation rate loses real value. The real interest rate is roughly the nominal interest rate minus the "
    "inflation rate.",
    "The rule of 72 estimates how long an investment takes to double: divide 72 by the annual interest rate. "
    "At 6% a year, money doubles in about 12 years. For example, at 8% it takes about 9 years.",
]
HEADINGS = ["Simple Interest", "Compound Interest", "Inflation", "The Rule of 72"]


def test_finance_topics_are_informative_phrases() -> None:
    topics = key_phrases(FINANCE, top_k=6, headings=HEADINGS)
    assert "compound interest" in topics
    assert "simple interest" in topics
    assert "rule of 72" in topics
    assert len(topics) == len(set(topics)) <= 6
    assert not any(t.lower() in GENERIC_WORDS for t in topics)
    assert not any(t.split()[0].isdigit() for t in topics)


def test_near_duplicates_are_merged() -> None:
    topics = key_phrases(FINANCE, top_k=10, headings=HEADINGS)
    keys = [phrase_key(t) for t in topics]
    assert len(set(keys)) == len(keys)
    assert "interest" not in topics  # "compound interest" says it better
    assert "compound interests" not in [t.lower() for t in topics]


def test_deterministic_and_limits() -> None:
    assert key_phrases(FINANCE, top_k=8) == key_phrases(list(FINANCE), top_k=8)
    assert key_phrases(FINANCE, top_k=0) == []
    assert key_phrases([], top_k=5) == []


def test_forms_are_kept_as_written() -> None:
    text = ["The Federal Reserve sets rates. Investors watch the Federal Reserve. Bonds react to the Federal Reserve."]
    assert "Federal Reserve" in key_phrases(text, top_k=3)


def test_find_phrase_forgives_case_and_plurals() -> None:
    text = "Compound Interests are fun; compound interest too."
    assert [text[s:e] for s, e in find_phrase(text, "compound interest")] == ["Compound Interests", "compound interest"]
    assert find_phrase(text, "simple interest") == []


def test_blank_out_hides_every_occurrence() -> None:
    blanked = blank_out("Compound interest beats simple interest because compound interest compounds.",
                        "compound interest")
    assert blanked == (f"{BLANK} beats simple interest because {BLANK} compounds.", "compound interest")
    assert blank_out("Nothing to see here.", "compound interest") is None


def test_distractors_follow_the_difficulty() -> None:
    pool = ["simple interest", "compound interest", "savings account", "interest rate", "purchasing power",
            "inflation", "rule of 72", "real interest"]
    sentence = "Compound interest is interest calculated on the principal and on interest already earned."
    hard = pick_distractors("compound interest", pool, sentence=sentence, count=3, hardness=1.0)
    easy = pick_distractors("compound interest", pool, sentence=sentence, count=3, hardness=0.0)
    assert len(hard) == len(easy) == 3
    assert "compound interest" not in hard + easy
    assert hard != easy
    assert sum(similarity("compound interest", t) for t in hard) > sum(similarity("compound interest", t) for t in easy)
    assert "simple interest" in hard


def test_distractors_exclude_overlapping_and_giveaway_terms() -> None:
    pool = ["interest", "compound interest rate", "principal", "savings account", "purchasing power", "inflation"]
    chosen = pick_distractors("compound interest", pool, sentence="Compound interest grows on the principal.",
                              count=3, hardness=0.5)
    assert "interest" not in chosen and "compound interest rate" not in chosen and "principal" not in chosen
    assert pick_distractors("compound interest", ["interest"], sentence="x", count=3, hardness=0.5) == []
