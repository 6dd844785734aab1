"""Course endpoints (``/api/v1/courses``)."""
