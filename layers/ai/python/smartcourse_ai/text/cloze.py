"""Fill-in-the-blank building blocks: blanking a term out of a sentence and choosing distractors for it."""

from __future__ import annotations

from collections.abc import Sequence

from smartcourse_ai.text.keyphrases import contains_key, find_phrase, phrase_key

BLANK = "_____"


def blank_out(sentence: str, term: str) -> tuple[str, str] | None:
    """``sentence`` with every occurrence of ``term`` blanked, and the term as first written there; None if absent.

    A capital that is there only because the term starts the sentence is dropped from the answer.
    """
    spans = find_phrase(sentence, term)
    if not spans:
        return None
    start, end = spans[0]
    answer = sentence[start:end]
    if start == 0 and answer[1:2].islower():
        answer = answer[0].lower() + answer[1:]
    pieces, cursor = [], 0
    for s, e in spans:
        pieces += [sentence[cursor:s], BLANK]
        cursor = e
    pieces.append(sentence[cursor:])
    return "".join(pieces), answer


def _bigrams(text: str) -> set[str]:
    text = " ".join(text.lower().split())
    return {text[i:i + 2] for i in range(len(text) - 1)}


def similarity(a: str, b: str) -> float:
    """Lexical closeness of two terms: shared stems, a shared head word (the last one), shared letter pairs."""
    ka, kb = phrase_key(a), phrase_key(b)
    if not ka or not kb:
        return 0.0
    stems = len(set(ka) & set(kb)) / len(set(ka) | set(kb))
    head = 0.5 if ka[-1] == kb[-1] else 0.0
    ba, bb = _bigrams(a), _bigrams(b)
    letters = 2 * len(ba & bb) / (len(ba) + len(bb)) if ba and bb else 0.0
    return stems + head + 0.3 * letters


def pick_distractors(answer: str, pool: Sequence[str], *, sentence: str, count: int, hardness: float) -> list[str]:
    """``count`` terms of ``pool`` to offer beside ``answer``, or fewer if the pool cannot supply them.

    A distractor differs from the answer and from the other distractors (no one contains another's words, so only
    one option can be right), does not occur in ``sentence`` (where it would be a giveaway) and has about the
    answer's number of words. ``hardness`` 1 picks the terms most like the answer, 0 the least, 0.5 the middle.
    """
    answer_key = phrase_key(answer)
    sentence_key = phrase_key(sentence)
    chosen_keys = [answer_key]
    usable: list[str] = []
    for term in dict.fromkeys(t.strip() for t in pool if t.strip()):
        key = phrase_key(term)
        if not key or contains_key(sentence_key, key):
            continue
        if any(contains_key(k, key) or contains_key(key, k) for k in chosen_keys):
            continue
        chosen_keys.append(key)
        usable.append(term)
    words = len(answer_key)
    for tolerance in (0, 1):
        close = [t for t in usable if abs(len(phrase_key(t)) - words) <= tolerance]
        if len(close) >= count:
            usable = close
            break
    ranked = sorted(usable, key=lambda t: -similarity(answer, t))  # stable: ties keep the pool's order
    start = round(max(0, len(ranked) - count) * (1.0 - hardness))
    return ranked[start:start + count]
