"""PostgreSQL access with SQLAlchemy Core (no ORM: it doubles the import cost on a cold start)."""
