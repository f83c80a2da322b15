"""Alembic migrations of calsync's schema (run by calsync.store.engine.migrate)."""
