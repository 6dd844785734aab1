"""Sentence splitting, tokens and the light stemmer."""

from __future__ import annotations

import pytest
from smartcourse_ai.text.sentences import STOPWORDS, content_stems, is_code_line, split_sentences, stem, tokens


def test_abbreviations_decimals_urls_and_initialisms_do_not_end_sentences() -> None:
    text = ("Compound interest pays interest on interest, e.g. on a savings account. Dr. Lee measured 3.14% in the "
            "U.S. Federal Reserve data, i.e. the official series. See https://example.com/rates.html for v1.2.3 of "
            "the tool. Is it worth it? Yes! J. Smith agrees, see Fig. 3 for details.")
    assert split_sentences(text) == [
        "Compound interest pays interest on interest, e.g. on a savings account.",
        "Dr. Lee measured 3.14% in the U.S. Federal Reserve data, i.e. the official series.",
        "See https://example.com/rates.html for v1.2.3 of the tool.",
        "Is it worth it?",
        "Yes!",
        "J. Smith agrees, see Fig. 3 for details.",
    ]


def test_wrapped_lines_join_while_list_items_headings_and_code_stand_alone() -> None:
    text = """# Budgeting basics

A budget lists your income and
your expenses for one month. It shows what is left.

- Track every expense
- Review the budget weekly. Adjust the categories.
  Keep receipts for a month.
1. Pay yourself first

```python
savings = income * 0.2
```
    total = sum(expenses);
That is all."""
    assert split_sentences(text) == [
        "Budgeting basics",
        "A budget lists your income and your expenses for one month.",
        "It shows what is left.",
        "Track every expense",
        "Review the budget weekly.",
        "Adjust the categories.",
        "Keep receipts for a month.",
        "Pay yourself first",
        "savings = income * 0.2",
        "total = sum(expenses);",
        "That is all.",
    ]


def test_a_title_line_of_extracted_text_is_its_own_sentence() -> None:
    assert split_sentences("Compound Interest\nInterest is earned on interest.") == [
        "Compound Interest", "Interest is earned on interest."]


def test_empty_text_has_no_sentences() -> None:
    assert split_sentences("") == []
    assert split_sentences("  \n\n ---\n") == []


@pytest.mark.parametrize(("line", "code"), [
    ("x = compute(a, b);", True),
    ("$ pip install pandas", True),
    ("if (a == b) { return; }", True),
    ("def total(items):", True),
    ("The function returns the total of the items.", False),
    ("Interest = principal \u00d7 rate \u00d7 time is the simple interest formula.", False),
])
def test_code_lines(line: str, code: bool) -> None:
    assert is_code_line(line) is code


def test_tokens_are_lower_case_words() -> None:
    assert tokens("Don't spend Smith's 3.14 dollars, café-style!") == [
        "dont", "spend", "smith", "3", "14", "dollars", "café", "style"]


@pytest.mark.parametrize("words", [
    ("rate", "rates", "rated", "rating", "ratings"),
    ("study", "studies", "studied", "studying"),
    ("run", "running", "runs"),
    ("stop", "stopped", "stopping"),
    ("compute", "computing", "computed", "computes"),
    ("class", "classes"),
    ("box", "boxes"),
    ("use", "used", "using", "uses"),
    ("quick", "quickly"),
])
def test_inflections_share_a_stem(words: tuple[str, ...]) -> None:
    assert len({stem(w) for w in words}) == 1


@pytest.mark.parametrize("word", ["interest", "analysis", "status", "call", "pass", "string", "thing", "family"])
def test_stems_leave_other_words_alone(word: str) -> None:
    assert stem(word) == word


def test_content_stems_drop_stopwords() -> None:
    assert "the" in STOPWORDS and isinstance(STOPWORDS, frozenset)
    assert content_stems("The rates of the savings accounts") == ["rat", "sav", "account"]
