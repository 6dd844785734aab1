"""Auth endpoints (``/api/v1/auth``)."""
