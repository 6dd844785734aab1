"""Lambda entry points of the ai service (its health and docs handlers are the platform's: platform_fns)."""
