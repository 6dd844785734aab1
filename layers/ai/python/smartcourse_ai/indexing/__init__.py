"""Indexing: editor documents to structured text, chunks that fit the embedder, runs per course."""
