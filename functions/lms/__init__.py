"""LMS API functions: one module per endpoint, each exposing ``handler(event, context)``."""
