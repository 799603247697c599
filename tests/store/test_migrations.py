"""The state store's schema comes from Alembic migrations; old stores upgrade in place."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from driftline.store.migrate import HEAD, revision
from driftline.store.state import StateStore, metadata

# Written by the state store as it was before migrations (main at 40c7470): two batches, three
# predictions and labels, a ledger entry and the project id. It has no alembic_version table.
BEFORE = Path(__file__).with_name("data") / "state-before-migrations.db"


def _schema_drift(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def _open_copy(tmp_path: Path) -> tuple[Path, StateStore]:
    db = tmp_path / "driftline.db"
    shutil.copy(BEFORE, db)
    return db, StateStore(f"sqlite:///{db}")


def test_a_new_store_is_built_by_the_migrations_and_matches_the_tables(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'new.db'}")
    with store.engine.connect() as conn:
        assert revision(conn) == HEAD
    assert _schema_drift(store.engine) == []


def test_a_store_made_before_migrations_upgrades_in_place_and_keeps_its_rows(tmp_path: Path) -> None:
    with sqlite3.connect(BEFORE) as raw:  # the fixture really predates migrations
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert "alembic_version" not in names and "ix_batches_seq" in names

    db, store = _open_copy(tmp_path)
    with store.engine.connect() as conn:
        assert revision(conn) == HEAD
    assert _schema_drift(store.engine) == []
    assert [(b.batch_id, b.seq, b.status) for b in store.list_batches()] == [
        ("b1", 1, "accepted"),
        ("b2", 2, "quarantined"),
    ]
    assert store.get_batch("b2").contract == {"success": False}  # type: ignore[union-attr]
    assert store.read_ledger()[0]["decision"] == {"case": "no_champion"}
    assert store.get_meta("project_id") == "p-123"
    assert len(store.predictions_with_labels(["b1"])) == 3
    assert StateStore(f"sqlite:///{db}").list_batches()  # a second open: already at the head


def test_a_store_older_still_gets_the_columns_added_since(tmp_path: Path) -> None:
    db = tmp_path / "driftline.db"
    shutil.copy(BEFORE, db)
    with sqlite3.connect(db) as raw:
        raw.execute("DROP INDEX ux_batches_seq")
        for table, column in (("batches", "stage"), ("batches", "worker"), ("labels", "source")):
            raw.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    store = StateStore(f"sqlite:///{db}")
    assert _schema_drift(store.engine) == []
    assert store.get_batch("b1").stage is None  # type: ignore[union-attr]


def test_the_batch_sequence_is_unique(tmp_path: Path) -> None:
    _, store = _open_copy(tmp_path)
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO batches (batch_id, seq, sha256, source, raw_path, status, rows, received_at) "
                "VALUES ('b3', 2, 'c', 's', 'p', 'accepted', 1, 'now')"
            )
        )
