"""The fusion of vector similarity and text rank, its calibration, the any-term query, usage periods."""

from __future__ import annotations

from datetime import UTC, datetime

from smartcourse_ai.retrieval import (
    DEFAULT_THRESHOLD,
    FUSED_CEILING,
    FUSED_FLOOR,
    VECTOR_WEIGHT,
    fuse,
    relevance,
    ts_query,
    ts_query_all,
)
from smartcourse_ai.usage import month_start, next_month_start


def test_the_text_query_ors_plain_words_and_cannot_inject_operators() -> None:
    assert ts_query("How do I stop XSS?") == "how | do | i | stop | xss"
    assert ts_query("a & b | !c <-> d:*") == "a | b | c | d"
    assert ts_query("¿?!") is None
    assert (ts_query(" ".join(f"w{i}" for i in range(100))) or "").count("|") == 31
    assert ts_query_all("How do I stop XSS?") == "how & do & i & stop & xss"
    assert ts_query_all("") is None


def test_fusion_leans_on_the_vector_side_and_relevance_is_calibrated_to_0_1() -> None:
    assert VECTOR_WEIGHT > 0.5
    assert fuse(0.5, 0.0) > fuse(0.0, 0.5)
    assert fuse(0.4, 2.0) == fuse(0.4, 1.0)  # the text rank is bounded
    assert relevance(FUSED_FLOOR) == 0.0 and relevance(FUSED_CEILING) == 1.0
    assert relevance(-1.0) == 0.0 and relevance(5.0) == 1.0
    assert 0 < DEFAULT_THRESHOLD < 1


def test_month_boundaries() -> None:
    now = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert month_start(now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert next_month_start(now) == datetime(2027, 1, 1, tzinfo=UTC)
