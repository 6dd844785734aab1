"""Helpers shared by test modules (event builders, wired services)."""
