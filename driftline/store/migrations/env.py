"""Alembic's entry for the state store: runs on the connection `driftline.store.migrate` passes."""

from __future__ import annotations

from alembic import context

context.configure(connection=context.config.attributes["connection"], render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
