"""The `watch` flow: every new CSV/Parquet file dropped into an incoming folder goes through
batch-cycle once, as a subflow.

A file is identified by its content hash: a batch the batch store already holds is recorded as a
duplicate without running the cycle, and a small ledger (``<root>/watch/processed.json``)
remembers what this flow handled, so a file is hashed once and ingested once however often the
schedule fires. Files still being written (modified in the last ``settle_seconds``) wait for the
next run. The default folder is ``<root>/watch/incoming``, not ``<root>/incoming``: `init` and
`replay` stage their own files there, and those must not be ingested twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from driftline.core.batch_io import batch_id_of, content_hash
from driftline.core.config import load_config
from driftline.ops.servers import watch_folder
from driftline.services.workspace import Workspace
from flows.batch_cycle import batch_cycle

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
MAX_ATTEMPTS = 3  # an infrastructure failure is retried on later runs, then left alone


@flow(name="watch")
def watch(
    folder: str | None = None,
    config_path: str = "driftline.yaml",
    settle_seconds: float = 5.0,
    allow_retrain: bool = True,
) -> dict[str, Any]:
    """Ingest the CSV/Parquet files dropped into FOLDER since the last run, each exactly once.

    Args:
        folder: the incoming folder to scan (default: <storage root>/watch/incoming).
        config_path: the project's driftline.yaml.
        settle_seconds: files modified more recently than this are left for the next run.
        allow_retrain: let the retrain policy start a retrain after a batch.
    """
    log = get_run_logger()
    config = Path(config_path).resolve()
    cfg = load_config(config)
    where = Path(folder).resolve() if folder else watch_folder(cfg)
    where.mkdir(parents=True, exist_ok=True)
    state = Workspace(cfg).state
    ledger_path = cfg.root / "watch" / "processed.json"
    summary: dict[str, Any] = {"folder": str(where), "ingested": [], "waiting": [], "skipped": 0}
    with _exclusive(ledger_path.with_name("lock")) as got_lock:
        if not got_lock:
            log.info("another watch run is active; skipping this one")
            return {**summary, "status": "busy"}
        ledger = _load(ledger_path)
        for path in _candidates(where):
            record = _new_file(path, ledger, state, settle_seconds=settle_seconds, summary=summary)
            if record is None:
                continue
            ledger[str(path)] = _ingest(
                path, record, ledger.get(str(path)), config=config, allow_retrain=allow_retrain
            )
            _save(ledger_path, ledger)  # after every file: a crash never re-ingests earlier ones
            summary["ingested"].append({k: record[k] for k in ("file", "batch_id", "status")})
        _save(ledger_path, ledger)
    log.info(
        "watch %s: %d ingested, %d already seen, %d still being written",
        where,
        len(summary["ingested"]),
        summary["skipped"],
        len(summary["waiting"]),
    )
    return {**summary, "status": "done"}


def _new_file(
    path: Path,
    ledger: dict[str, dict[str, Any]],
    state: Any,
    *,
    settle_seconds: float,
    summary: dict[str, Any],
) -> dict[str, Any] | None:
    """The ledger record of a file to ingest now, or None when it is still being written, already
    settled, or the same bytes as a batch seen before (the summary counts which)."""
    stat = path.stat()
    if time.time() - stat.st_mtime < settle_seconds:
        summary["waiting"].append(path.name)
        return None
    key = str(path)
    if _handled(ledger.get(key), size=stat.st_size, mtime_ns=stat.st_mtime_ns):
        summary["skipped"] += 1
        return None
    sha = content_hash(path)
    seen = next((e for e in ledger.values() if e["sha256"] == sha and e["status"] != "failed"), None)
    if seen is not None:  # same bytes under another name: the batch store would skip it too
        ledger[key] = {**seen, "file": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        summary["skipped"] += 1
        return None
    record: dict[str, Any] = {
        "file": path.name,
        "sha256": sha,
        "batch_id": batch_id_of(sha),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }
    if state.get_batch(record["batch_id"]) is not None:  # ingested before, e.g. by the CLI
        ledger[key] = {**record, "status": "duplicate", "at": _now()}
        summary["skipped"] += 1
        return None
    return record


def _ingest(
    path: Path, record: dict[str, Any], entry: dict[str, Any] | None, *, config: Path, allow_retrain: bool
) -> dict[str, Any]:
    """One file through the batch-cycle flow (a subflow run); an infrastructure failure is logged
    and counted, and the file is retried on a later run."""
    run = batch_cycle(path=str(path), config_path=str(config), allow_retrain=allow_retrain, return_state=True)
    try:
        record["status"] = run.result()["status"]
    except Exception as err:
        attempts = (entry or {}).get("attempts", 0) + 1
        record.update(status="failed", attempts=attempts, error=str(err)[:300])
        get_run_logger().error("%s failed (attempt %d of %d): %s", path.name, attempts, MAX_ATTEMPTS, err)
    record["at"] = _now()
    return record


def _handled(entry: dict[str, Any] | None, *, size: int, mtime_ns: int) -> bool:
    """True if the ledger already settled this file as it is now (same size and mtime)."""
    if entry is None or (entry["size"], entry["mtime_ns"]) != (size, mtime_ns):
        return False
    return bool(entry["status"] != "failed" or entry.get("attempts", 0) >= MAX_ATTEMPTS)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _candidates(folder: Path) -> list[Path]:
    """Batch files in ``folder`` (not hidden, not partial downloads), oldest first."""
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(SUFFIXES)
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def _load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: Path, ledger: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(ledger, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[bool]:
    """Hold a non-blocking file lock; yields False when another run holds it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
