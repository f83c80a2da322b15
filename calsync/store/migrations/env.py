"""Alembic environment: runs migrations on the connection calsync hands over.

calsync never runs Alembic from its command line tool; :func:`calsync.store.engine.migrate`
calls it programmatically with ``config.attributes["connection"]`` set.
"""

from alembic import context

from calsync.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when run by hand
    raise RuntimeError("calsync migrations run through calsync.store.engine.migrate()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
