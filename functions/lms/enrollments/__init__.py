"""Enrollment endpoints (``/api/v1/enrollments``)."""
