"""Module endpoints (``/api/v1/modules``)."""
