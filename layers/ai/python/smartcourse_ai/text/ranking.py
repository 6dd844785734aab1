"""Picking the most central sentences of a text (TextRank over TF-IDF cosine similarity)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from smartcourse_ai.text.sentences import content_stems, is_code_line, tokens

MIN_WORDS = 6
MAX_WORDS = 60
DAMPING = 0.85
ITERATIONS = 30
POSITION_BONUS = 0.15  # at most, for the very first sentence; it fades over the first fifth of the text
DUPLICATE_COSINE = 0.7
MAX_CANDIDATES = 600  # beyond this the pairwise graph gets slow in pure Python; the least informative go first

Vector = dict[str, float]


def tfidf_vectors(texts: Sequence[str]) -> list[Vector]:
    """Unit-length TF-IDF vectors over content stems (smoothed idf, so a term in every text still counts a bit)."""
    bags = [Counter(content_stems(t)) for t in texts]
    df: Counter[str] = Counter()
    for bag in bags:
        df.update(bag.keys())
    n = len(bags)
    vectors = []
    for bag in bags:
        vector = {t: (1.0 + math.log(c)) * (1.0 + math.log((n + 1) / (df[t] + 1))) for t, c in bag.items()}
        length = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        vectors.append({t: w / length for t, w in vector.items()})
    return vectors


def cosine(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())


def _eligible(sentences: Sequence[str]) -> list[int]:
    counts = [len(tokens(s)) for s in sentences]
    prose = [i for i, s in enumerate(sentences) if not is_code_line(s)]
    chosen = [i for i in prose if MIN_WORDS <= counts[i] <= MAX_WORDS]
    # A text of short lines only (a slide, a list) would otherwise have no summary at all.
    return chosen or [i for i in prose if 3 <= counts[i] <= MAX_WORDS]


def _centrality(vectors: list[Vector]) -> list[float]:
    n = len(vectors)
    postings: defaultdict[str, list[tuple[int, float]]] = defaultdict(list)
    for i, vector in enumerate(vectors):
        for term, weight in vector.items():
            postings[term].append((i, weight))
    edges: list[defaultdict[int, float]] = [defaultdict(float) for _ in range(n)]
    for posting in postings.values():
        for x, (i, wi) in enumerate(posting):
            for j, wj in posting[x + 1:]:
                edges[i][j] += wi * wj
                edges[j][i] += wi * wj
    out_weight = [sum(e.values()) for e in edges]
    scores = [1.0 / n] * n
    for _ in range(ITERATIONS):
        incoming = [0.0] * n
        for i, e in enumerate(edges):
            if out_weight[i]:
                share = scores[i] / out_weight[i]
                for j, w in e.items():
                    incoming[j] += share * w
        scores = [(1.0 - DAMPING) / n + DAMPING * s for s in incoming]
    top = max(scores) or 1.0
    return [s / top for s in scores]


def sentence_scores(sentences: Sequence[str]) -> dict[int, float]:
    """Centrality (0..1, plus the early-position bonus) of each eligible sentence, by index."""
    eligible = _eligible(sentences)
    if not eligible:
        return {}
    vectors = tfidf_vectors([sentences[i] for i in eligible])
    if len(eligible) > MAX_CANDIDATES:
        keep = sorted(range(len(eligible)), key=lambda k: (-len(vectors[k]), k))[:MAX_CANDIDATES]
        keep.sort()
        eligible = [eligible[k] for k in keep]
        vectors = [vectors[k] for k in keep]
    centrality = _centrality(vectors)
    horizon = max(1.0, len(sentences) / 5)
    return {i: c + POSITION_BONUS * max(0.0, 1.0 - i / horizon) for i, c in zip(eligible, centrality, strict=True)}


def rank_sentences(sentences: Sequence[str], *, top_k: int, max_chars: int | None = None) -> list[int]:
    """Indices (in original order) of up to ``top_k`` central, mutually distinct sentences.

    ``max_chars`` bounds the total length of the chosen sentences (joined with spaces): a sentence that would
    overflow it is passed over for a shorter, lower-ranked one.
    """
    if top_k <= 0:
        return []
    scores = sentence_scores(sentences)
    vectors = dict(zip(scores, tfidf_vectors([sentences[i] for i in scores]), strict=True))
    chosen: list[int] = []
    used = 0
    for i in sorted(scores, key=lambda k: (-scores[k], k)):
        if len(chosen) == top_k:
            break
        cost = len(sentences[i]) + (1 if chosen else 0)
        if max_chars is not None and used + cost > max_chars:
            continue
        if any(cosine(vectors[i], vectors[j]) > DUPLICATE_COSINE for j in chosen):
            continue
        chosen.append(i)
        used += cost
    return sorted(chosen)
