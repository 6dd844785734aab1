"""Admin endpoints (``/api/v1/admin``)."""
