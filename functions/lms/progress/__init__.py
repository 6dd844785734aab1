"""Progress endpoints (``/api/v1/progress``)."""
