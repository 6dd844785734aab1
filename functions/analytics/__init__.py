"""Lambda entry points of the analytics service (its health and docs handlers are the platform's: platform_fns)."""
