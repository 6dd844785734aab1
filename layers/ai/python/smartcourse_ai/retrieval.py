"""Hybrid retrieval: how vector similarity and full-text rank make one relevance score. Pure.

Vector similarity (cosine, MiniLM) finds passages phrased in other words than the question; full-text rank
(any term, stemmed English, ``ts_rank_cd`` normalised to 0..1) rewards exact terms such as names and
jargon. Measured on the evaluation set (docs/benchmarks.md), all-terms matching finds almost nothing and
lexical ranking alone trails the vectors by far, so the fusion leans on the vector side.

The fused score is then calibrated into a 0..1 *relevance* (what the API reports as ``score``): 0 at a
similarity typical of unrelated text, 1 at a near-paraphrase. The default threshold and the existing
client's ``similarity_threshold: 0.7`` are both read on that scale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VECTOR_WEIGHT = 0.8
TEXT_WEIGHT = 1.0 - VECTOR_WEIGHT
# Calibration of the fused score (tuned on the evaluation set: off-topic questions fuse below ~0.25,
# answerable ones mostly above 0.4).
FUSED_FLOOR = 0.15
FUSED_CEILING = 0.55
# Relevance below which a chunk is not shown, nor used for an answer. On the evaluation set (docs/benchmarks.md)
# no off-topic question reaches 0.22 while half the answerable ones exceed 0.7; at 0.30 every off-topic question
# is refused and about 6 % of the answerable ones are (0.45 refused 18 %).
DEFAULT_THRESHOLD = 0.30
CANDIDATES = 40  # per side (vector, every-term text, any-term text) before fusion
TEXT_SCAN = 500  # any-term text matches read (and ranked) at most per query: bounds the cost on a large corpus
MAX_QUERY_TERMS = 32

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(_WORD.findall(text.lower())))[:MAX_QUERY_TERMS]


def ts_query(text: str) -> str | None:
    """An any-term ``to_tsquery`` expression of the text's words (alphanumeric only: nothing to escape)."""
    words = _words(text)
    return " | ".join(words) if words else None


def ts_query_all(text: str) -> str | None:
    """The every-term expression of the same words (PostgreSQL drops the stop words from either)."""
    words = _words(text)
    return " & ".join(words) if words else None


def fuse(similarity: float, text_rank: float) -> float:
    return VECTOR_WEIGHT * similarity + TEXT_WEIGHT * min(max(text_rank, 0.0), 1.0)


def relevance(fused: float) -> float:
    return min(max((fused - FUSED_FLOOR) / (FUSED_CEILING - FUSED_FLOOR), 0.0), 1.0)


@dataclass(frozen=True)
class Hit:
    chunk_id: object
    course_id: object
    asset_id: object
    heading_path: str
    content: str
    chunk_index: int
    similarity: float
    text_rank: float

    @property
    def score(self) -> float:
        return relevance(fuse(self.similarity, self.text_rank))
