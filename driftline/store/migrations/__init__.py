"""Alembic migrations of the state store (`driftline.store.migrate` runs them on open)."""
