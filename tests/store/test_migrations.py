"""The state store's schema comes from Alembic migrations; old stores upgrade in place."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from driftline.store.columns import UTCDateTime
from driftline.store.migrate import HEAD, MIGRATIONS, revision
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


def test_timestamps_become_aware_and_documents_json_with_the_old_values_kept(tmp_path: Path) -> None:
    db, store = _open_copy(tmp_path)
    with sqlite3.connect(db) as raw:
        declared = {r[1]: r[2] for r in raw.execute("PRAGMA table_info(batches)")}
        stored = raw.execute("SELECT received_at, contract FROM batches WHERE batch_id = 'b2'").fetchone()
    assert (declared["received_at"], declared["contract"], declared["start_time"]) == (
        "DATETIME",
        "JSON",
        "VARCHAR(40)",  # the data's own time range, as the batch wrote it: not the store's clock
    )
    assert stored == ("2026-12-03 05:55:44.000000", '{"success": false}')  # rewritten, not cast
    batch = store.get_batch("b2")
    assert batch is not None and batch.received_at == "2026-12-03T05:55:44+00:00"
    assert store.read_ledger()[0]["time"] == "2026-12-03T05:55:52+00:00"
    with store.engine.connect() as conn:  # the column type hands out aware datetimes
        moment = conn.execute(
            sa.select(sa.table("ledger", sa.column("time", UTCDateTime())).c.time)
        ).scalar_one()
    assert moment == datetime(2026, 12, 3, 5, 55, 52, tzinfo=UTC)


def test_the_store_keeps_aware_timestamps_and_json_documents(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'new.db'}")
    store.add_batch(
        batch_id="b1",
        sha256="s",
        source="a.csv",
        raw_path="p",
        status="accepted",
        rows=1,
        contract={"rules": [1, 2], "note": None},
    )
    batch = store.get_batch("b1")
    assert batch is not None and batch.contract == {"rules": [1, 2], "note": None} and batch.drift is None
    assert datetime.fromisoformat(batch.received_at).tzinfo is not None
    store.record_labels(pd.DataFrame({"batch_id": ["b1"] * 2, "row_key": ["r1", "r2"], "label": ["0", "1"]}))
    with sqlite3.connect(tmp_path / "new.db") as raw:
        assert raw.execute("SELECT drift FROM batches").fetchone() == (None,)  # SQL NULL, not 'null'
        # the bulk path writes through the driver, past the column types: the same stored form
        (label_time,) = {r[0] for r in raw.execute("SELECT received_at FROM labels")}
        (batch_time,) = raw.execute("SELECT received_at FROM batches").fetchone()
    assert len(label_time) == len(batch_time) == len("2026-12-03 05:55:44.000000")
    with pytest.raises(sa.exc.StatementError, match="has no time zone"):
        store.record_alert(
            time="2026-12-03T05:55:52",
            project="p",
            kind="k",
            severity="warn",
            subject="s",
            dedup_key="d",
            message="m",
            status="stored",
        )
    with pytest.raises(sa.exc.StatementError, match="not JSON compliant"):  # strict: NaN is no JSON
        store.update_batch("b1", drift={"share": float("nan")})


def test_the_migration_downgrades_to_text_and_back(tmp_path: Path) -> None:
    db, store = _open_copy(tmp_path)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT received_at FROM batches WHERE batch_id = 'b1'").fetchone() == (
            "2026-12-03T05:55:44+00:00",
        )
    reopened = StateStore(f"sqlite:///{db}")  # and up again on the next open
    assert reopened.get_batch("b1").received_at == "2026-12-03T05:55:44+00:00"  # type: ignore[union-attr]
