"""Courses, their prerequisites and modules: schemas, queries and use cases (rules live in ``smartcourse.learning``)."""
