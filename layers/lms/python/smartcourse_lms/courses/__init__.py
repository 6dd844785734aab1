"""Courses, their prerequisites and modules: schemas, queries and use cases.

The rules live in ``smartcourse_lms.learning``.
"""
