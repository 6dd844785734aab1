"""The hybrid search query: vector candidates (HNSW) and any-term text candidates (GIN), scored together."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import Connection, Float, Integer, String, Text, Uuid, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from smartcourse_ai.domain import EMBEDDING_DIMENSIONS
from smartcourse_ai.retrieval import CANDIDATES, TEXT_SCAN, Hit, ts_query, ts_query_all
from smartcourse_ai.tables import TS_CONFIG

# Candidates: the nearest chunks by cosine distance (HNSW), and the text matches of the question's terms — those
# matching *every* term first (ranked), then, within a bounded number of any-term matches, the best ranked. Ranking
# every any-term match costs one ts_rank_cd per matching chunk (a common word matches a large part of a big
# corpus: 28 % of 100,000 chunks in the benchmark, 360 ms), so the any-term side reads at most :scan matches
# (retrieval.TEXT_SCAN).
# Every candidate is then scored with its any-term rank (ts_rank_cd normalisation 32: r / (r + 1), 0..1).
# Only the constant text-search configuration is formatted into the SQL; every value is a bound parameter.
_SQL = f"""
WITH vec AS (
    SELECT c.id FROM chunks c
    WHERE c.course_id = ANY(:courses)
    ORDER BY c.embedding <=> :q
    LIMIT :k
), every_term AS (
    SELECT c.id FROM chunks c
    WHERE :tsq_all IS NOT NULL AND c.course_id = ANY(:courses) AND c.tsv @@ to_tsquery('{TS_CONFIG}', :tsq_all)
    ORDER BY ts_rank_cd(c.tsv, to_tsquery('{TS_CONFIG}', :tsq), 32) DESC
    LIMIT :k
), any_term AS (
    SELECT m.id FROM (
        SELECT c.id, c.tsv FROM chunks c
        WHERE :tsq IS NOT NULL AND c.course_id = ANY(:courses) AND c.tsv @@ to_tsquery('{TS_CONFIG}', :tsq)
        LIMIT :scan
    ) m
    ORDER BY ts_rank_cd(m.tsv, to_tsquery('{TS_CONFIG}', :tsq), 32) DESC
    LIMIT :k
)
SELECT c.id, c.course_id, c.asset_id, c.heading_path, c.content, c.chunk_index,
       1 - (c.embedding <=> :q) AS similarity,
       CASE WHEN :tsq IS NULL THEN 0
            ELSE ts_rank_cd(c.tsv, to_tsquery('{TS_CONFIG}', :tsq), 32) END AS text_rank
FROM chunks c
WHERE c.id IN (SELECT id FROM vec UNION SELECT id FROM every_term UNION SELECT id FROM any_term)
"""  # noqa: S608

SEARCH = text(_SQL).bindparams(
    bindparam("q", type_=Vector(EMBEDDING_DIMENSIONS)),
    bindparam("courses", type_=ARRAY(PG_UUID(as_uuid=True))),
    bindparam("tsq", type_=String),
    bindparam("tsq_all", type_=String),
    bindparam("k", type_=Integer),
    bindparam("scan", type_=Integer),
).columns(id=Uuid, course_id=Uuid, asset_id=Uuid, heading_path=Text, content=Text, chunk_index=Integer,
          similarity=Float, text_rank=Float)


def prepare(conn: Connection) -> None:
    """Let the HNSW scan go on past filtered-out rows (pgvector >= 0.8), so a course filter still fills k."""
    conn.exec_driver_sql("SET LOCAL hnsw.iterative_scan = relaxed_order")
    # The candidate list of the graph walk: above the 40 candidates wanted, low enough to stay a few ms.
    conn.exec_driver_sql("SET LOCAL hnsw.ef_search = 64")


def parameters(vector: Any, query: str, course_ids: Sequence[uuid.UUID], candidates: int = CANDIDATES,
               scan: int = TEXT_SCAN) -> dict[str, Any]:
    """The bound values of ``SEARCH`` for a query's vector and text."""
    return {"q": vector, "courses": list(course_ids), "tsq": ts_query(query), "tsq_all": ts_query_all(query),
            "k": candidates, "scan": scan}


def search(conn: Connection, vector: Any, query: str, course_ids: Sequence[uuid.UUID],
           candidates: int = CANDIDATES, scan: int = TEXT_SCAN) -> list[Hit]:
    """Candidates of ``course_ids`` for a query (its vector and its text), each with its cosine similarity and
    its any-term text rank (``Hit.score`` fuses them)."""
    if not course_ids:
        return []
    rows = conn.execute(SEARCH, parameters(vector, query, course_ids, candidates, scan))
    return [Hit(chunk_id=r.id, course_id=r.course_id, asset_id=r.asset_id, heading_path=r.heading_path,
                content=r.content, chunk_index=r.chunk_index, similarity=float(r.similarity),
                text_rank=float(r.text_rank)) for r in rows]
