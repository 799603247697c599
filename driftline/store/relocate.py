"""A copied or moved project keeps working and never writes into the original folder.

MLflow stores absolute artifact URIs (it resolves a relative ``artifact_location`` against the
working directory when the experiment is created), and the state database keeps the absolute path
of every raw copy. So the state database records the folder the project was last opened in. When
a command opens the project in another folder, every stored path and ``file://`` URI under the old
folder is rewritten to the new one, in both SQLite stores, before anything else reads or writes
them. The rewrite is idempotent (a second command finds nothing left to change).

Only the embedded SQLite stores are rewritten: a PostgreSQL state database or a remote tracking
server is shared on purpose and does not move with a folder.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from driftline.core.config import DriftlineConfig
from driftline.core.names import Tag

ROOT_KEY = Tag.PROJECT_ROOT
_BUSY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Relocation:
    """The project was opened in a new folder: where it was, where it is, what was rewritten."""

    old_root: Path
    new_root: Path
    rewritten: int

    def describe(self) -> str:
        return (
            f"the project moved from {self.old_root} to {self.new_root}: "
            f"{self.rewritten} stored paths now point into the new folder"
        )


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, or None for any other store."""
    if not url.startswith("sqlite:///"):
        return None
    path = urlparse(url).path if url.startswith("sqlite:////") else url[len("sqlite:///") :]
    return Path(path) if path and path != ":memory:" else None


def relocate_project(cfg: DriftlineConfig) -> Relocation | None:
    """Rewrite stored paths if the project was opened in a new folder; record the folder.

    Returns None when nothing moved (or the stores are not local SQLite files).
    """
    state_db = sqlite_file(cfg.database_url)
    if state_db is None or not state_db.exists():
        return None
    try:
        return _relocate(cfg, state_db)
    except sqlite3.DatabaseError:  # not a database: the state store reports it, with the file
        return None


def _relocate(cfg: DriftlineConfig, state_db: Path) -> Relocation | None:
    new_root = cfg.root.resolve()
    stores = [state_db] + [p for p in [sqlite_file(cfg.tracking_uri)] if p is not None and p.exists()]
    recorded = _recorded_root(state_db)
    old_root = recorded or _root_from_artifacts(stores[1:], cfg)
    rewritten = 0
    if old_root is not None and old_root != new_root:
        rewritten = sum(_rewrite_prefix(db, old_root, new_root) for db in stores)
    if recorded != new_root:
        _record_root(state_db, new_root)
    if old_root is None or old_root == new_root:
        return None
    return Relocation(old_root, new_root, rewritten)


def _connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, timeout=_BUSY_TIMEOUT_S)


def _recorded_root(state_db: Path) -> Path | None:
    with _connect(state_db) as conn:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (ROOT_KEY,)).fetchone()
        except sqlite3.OperationalError:  # a database from before the meta table
            return None
    return Path(row[0]) if row else None


def _record_root(state_db: Path, root: Path) -> None:
    with _connect(state_db) as conn:
        try:
            conn.execute("DELETE FROM meta WHERE key = ?", (ROOT_KEY,))
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (ROOT_KEY, str(root)))
        except sqlite3.OperationalError:  # no meta table yet: the state store creates it
            return


def _root_from_artifacts(mlflow_dbs: list[Path], cfg: DriftlineConfig) -> Path | None:
    """For a project opened before the folder was recorded: its old root, from the experiment's
    artifact location (``<old root>/mlartifacts``)."""
    if not mlflow_dbs or not cfg.artifact_root.is_relative_to(cfg.root):
        return None
    tail = cfg.artifact_root.relative_to(cfg.root)
    with _connect(mlflow_dbs[0]) as conn:
        try:
            row = conn.execute(
                "SELECT artifact_location FROM experiments WHERE name = ?", (cfg.model_name,)
            ).fetchone()
        except sqlite3.OperationalError:
            return None
    if not row or not str(row[0]).startswith("file://"):
        return None
    location = Path(urlparse(row[0]).path)
    parts = tail.parts
    if location.parts[-len(parts) :] != parts:
        return None
    return location.parents[len(parts) - 1]


def _rewrite_prefix(db: Path, old: Path, new: Path) -> int:
    """Replace the folder ``old`` by ``new`` wherever a text value names it (a path, a ``file://``
    URI, a path inside a stored JSON result); returns how many values changed."""
    pairs = [(str(old), str(new)), (old.as_uri(), new.as_uri())]
    changed = 0
    with _connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [
                c[1]
                for c in conn.execute(f'PRAGMA table_info("{table}")')
                # JSON documents are text too (contract and drift results name report paths)
                if not c[2] or any(t in c[2].upper() for t in ("CHAR", "TEXT", "CLOB", "JSON"))
            ]
            for column in columns:
                for before, after in pairs:
                    cur = conn.execute(
                        f'UPDATE "{table}" SET "{column}" = CASE WHEN "{column}" = ? THEN ? '
                        f'ELSE replace("{column}", ?, ?) END '
                        f'WHERE "{column}" = ? OR instr("{column}", ?) > 0',
                        (before, after, before + "/", after + "/", before, before + "/"),
                    )
                    changed += cur.rowcount
    return changed
