"""Certificate endpoints (``/api/v1/certificates``)."""
