"""Enrollments, learner progress and certificates."""
