"""DDL for the per-model HNSW index; migration 0006 and `dealgraph reembed` both use it, so keep it stable."""

from __future__ import annotations


def hnsw_index_sql(model: str, dimensions: int) -> str:
    """Cosine HNSW over one model's vectors; searches must use the same cast and model filter to use it."""
    name = "ix_transcript_windows_hnsw_" + "".join(c if c.isalnum() else "_" for c in model).lower()
    return (
        f"CREATE INDEX IF NOT EXISTS {name[:63]} ON transcript_windows "
        f"USING hnsw ((embedding::vector({int(dimensions)})) vector_cosine_ops) WHERE model = '{model}'"
    )
