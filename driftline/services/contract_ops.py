"""The project's contract over time: review of blocking rules, accepting a quarantined batch,
suite versions with history and a ledger, and the refresh of warn-tier rules on promotion."""

from __future__ import annotations

import getpass
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from data_contracts import review as rv
from data_contracts.suite_io import load_suite, save_suite, suite_hash
from driftline.core.batch_io import read_table
from driftline.services.bootstrap import suite_from
from driftline.services.datasets import ROW_KEY
from driftline.services.project import load_facts
from driftline.services.workspace import Workspace
from driftline.store.state import now_iso

logger = logging.getLogger(__name__)


def history_dir(ws: Workspace) -> Path:
    return ws.config.suite_path.parent / "history"


def ledger_path(ws: Workspace) -> Path:
    path = ws.config.suite_path
    return path.with_name(f"{path.stem}.ledger.jsonl")


def read_ledger(ws: Workspace) -> list[dict[str, Any]]:
    """Every change to the contract: who, when, why, what."""
    path = ledger_path(ws)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _save_version(ws: Workspace, old: dict[str, Any], new: dict[str, Any], **entry: Any) -> dict[str, Any]:
    """Keep the old suite under history/, write the new one, and append the ledger entry."""
    stem = ws.config.suite_path.stem
    save_suite(old, history_dir(ws) / f"{stem}.v{rv.version(old)}.json")
    save_suite(new, ws.config.suite_path)
    record = {
        "time": now_iso(),
        "from_version": rv.version(old),
        "to_version": rv.version(new),
        "suite_hash": suite_hash(new),
        **entry,
    }
    with ledger_path(ws).open("a") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
    return record


def review(ws: Workspace) -> dict[str, Any]:
    """Blocking rules with their evidence, and streaks of the same rule blocking in a row."""
    batches = ws.state.list_batches()
    quarantined = [(b.batch_id, b.contract or {}) for b in batches if b.status == "quarantined"]
    history = [(b.batch_id, b.status, b.contract) for b in batches]
    return {
        "suite": str(ws.config.suite_path),
        "version": rv.version(load_suite(ws.config.suite_path)),
        "rules": [r.to_dict() for r in rv.blocking_rules(quarantined)],
        "streaks": rv.streaks(history, length=ws.config.contract.streak_batches),
        "quarantined": [b for b, _ in quarantined],
    }


def _evidence(frame: pd.DataFrame) -> dict[str, tuple[float | None, float | None]]:
    out: dict[str, tuple[float | None, float | None]] = {}
    for column in frame.columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.notna().any():
            out[str(column)] = (float(values.min()), float(values.max()))
    return out


def accept(ws: Workspace, batch_id: str, *, reason: str, actor: str | None = None) -> dict[str, Any]:
    """Widen (or demote) the rules that quarantined `batch_id`, record who and why, and free the
    batch id so the kept raw copy can be ingested again under it.

    Returns:
        ``{"raw_path", "source", "ledger"}``: re-ingest ``raw_path`` next.

    Raises:
        ReviewError: unknown or not quarantined batch, a missing raw copy, or a rule that guards
            the schema or the ids.
    """
    batch = ws.state.get_batch(batch_id)
    if batch is None:
        raise rv.ReviewError(
            f"batch {batch_id!r} is unknown; 'driftline contract review' lists quarantined ones"
        )
    if batch.status != "quarantined":
        raise rv.ReviewError(f"batch {batch_id} is {batch.status}, not quarantined: nothing to accept")
    raw = Path(batch.raw_path)
    if not raw.is_file():
        raise rv.ReviewError(f"batch {batch_id}: its kept raw copy {raw} is missing")
    if not reason.strip():
        raise rv.ReviewError("--reason must say why the batch is accepted")
    old = load_suite(ws.config.suite_path)
    try:
        evidence = _evidence(read_table(raw))
    except Exception:  # an unreadable file has no numeric evidence; rules still demote
        evidence = {}
    new, changes = rv.accept(old, batch.contract or {}, evidence=evidence)
    record = _save_version(
        ws,
        old,
        new,
        action="accept",
        batch_id=batch_id,
        reason=reason,
        actor=actor or getpass.getuser(),
        changes=[{k: v for k, v in c.items() if k != "before"} for c in changes],
    )
    ws.state.forget_batch(batch_id)
    return {"raw_path": str(raw), "source": batch.source, "ledger": record}


def accept_reference(ws: Workspace, batch_id: str, *, name: str) -> bool:
    """The contract was just learned from this quarantined batch (a replay warmup batch, an init
    part), so it must accept it: its blocking rules widen or demote as `accept` does (a lag
    feature all-null in its first period, say), recorded in the ledger by ``driftline``. Schema
    and id rules stay: such a batch is a real fault and stays quarantined.

    Returns:
        Whether the batch was accepted; the caller then ingests it again under its id.
    """
    try:
        accept(
            ws,
            batch_id,
            reason=f"{name}: the contract was learned from it, so it must accept it",
            actor="driftline",
        )
    except rv.ReviewError as err:
        logger.warning("%s stays quarantined: %s", name, err)
        return False
    return True


def refresh_after_promotion(ws: Workspace, window: pd.DataFrame, *, version: str) -> dict[str, Any]:
    """The new champion's training window becomes the reference of the warn-tier distribution
    rules, and the scale rules widen to cover its scale; other validity rules (and the target's
    rules) are not touched."""
    data = ws.config.data
    frame = window.drop(columns=[c for c in (ROW_KEY, "__batch_id") if c in window.columns])
    fresh = suite_from(ws.config, frame, load_facts(ws))
    fresh["expectations"] = [e for e in fresh["expectations"] if e["kwargs"].get("column") != data.target]
    old = load_suite(ws.config.suite_path)
    new = rv.refresh_distribution(old, fresh)
    return _save_version(
        ws,
        old,
        new,
        action="refresh",
        reason=f"warn rules refreshed, scale rules widened: champion v{version}'s training window",
        actor="driftline",
        rows=len(frame),
    )


def suite_version(ws: Workspace, number: int | None) -> dict[str, Any]:
    """A suite by version number (None: the current one).

    Raises:
        ReviewError: no such version in history/.
    """
    current = load_suite(ws.config.suite_path)
    if number is None or number == rv.version(current):
        return current
    path = history_dir(ws) / f"{ws.config.suite_path.stem}.v{number}.json"
    if not path.is_file():
        raise rv.ReviewError(f"contract version {number} is not in {history_dir(ws)}")
    return load_suite(path)
