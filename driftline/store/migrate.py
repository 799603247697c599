"""Bring a state database to the current schema with Alembic (``driftline/store/migrations``).

Every :class:`~driftline.store.state.StateStore` open calls :func:`upgrade`. A store already at
the head costs one query; a new one is created by the migrations; a store made before
migrations (no ``alembic_version`` table) is upgraded in place from the baseline, whose steps
skip whatever it already has.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0003"


def revision(conn: sa.Connection) -> str | None:
    """The store's schema revision; None before migrations (or for an empty database)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: sa.Engine) -> None:
    """Run the migrations the store has not had yet (none when it is at the head)."""
    with engine.connect() as conn:
        if revision(conn) == HEAD:
            return
    # Deferred: Alembic loads only when a store needs migrating (once per store).
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except sa.exc.OperationalError:
        with engine.connect() as conn:  # another process migrated it at the same moment
            if revision(conn) != HEAD:
                raise
