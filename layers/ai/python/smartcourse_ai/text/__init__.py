"""Pure text building blocks of the offline generator: sentences, key phrases, ranking, similarity, injection guards.

Standard library only and no I/O, so that they are cheap to import and trivially deterministic.
"""
