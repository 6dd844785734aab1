"""Learning asset endpoints (``/api/v1/assets``)."""
