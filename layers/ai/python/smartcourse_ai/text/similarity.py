"""Lexical relevance of candidate texts to a query (BM25 over stems, stopwords left out)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from smartcourse_ai.text.sentences import content_stems

K1 = 1.2
B = 0.75


def lexical_scores(query: str, candidates: Sequence[str]) -> list[float]:
    """BM25 of each candidate for ``query``, normalised to 0..1.

    The normaliser is the score of an ideal candidate: one of average length holding every query term once
    (the sum of the query terms' idf), and results are capped at 1. Unlike dividing by the best observed score
    it is absolute: when no candidate is about the question every score stays low, and a candidate matching
    half of the (idf-weighted) query terms scores about 0.5 whatever the others are.
    """
    query_terms = list(dict.fromkeys(content_stems(query)))
    if not candidates:
        return []
    if not query_terms:
        return [0.0] * len(candidates)
    bags = [Counter(content_stems(c)) for c in candidates]
    lengths = [sum(bag.values()) for bag in bags]
    average = (sum(lengths) / len(lengths)) or 1.0
    n = len(bags)
    idf = {}
    for term in query_terms:
        df = sum(1 for bag in bags if term in bag)
        idf[term] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
    ideal = sum(idf.values())
    scores = []
    for bag, length in zip(bags, lengths, strict=True):
        norm = K1 * (1.0 - B + B * length / average)
        score = sum(idf[t] * bag[t] * (K1 + 1.0) / (bag[t] + norm) for t in query_terms if t in bag)
        scores.append(min(1.0, score / ideal))
    return scores
