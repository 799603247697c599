"""Batch intake: identify a file by content hash, keep it, quarantine it when its contract fails."""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from data_contracts.results import ContractFailure, ContractResult
from driftline.core.batch_io import batch_id_of, content_hash, keep_raw
from driftline.core.processes import is_alive
from driftline.services.workspace import Workspace


@dataclass(frozen=True)
class Intake:
    """A file that arrived: its id, whether it was seen before, and where its raw copy lives."""

    batch_id: str
    sha256: str
    source: str
    duplicate: bool
    raw_path: Path
    previous_status: str | None = None
    resume_seq: int | None = None  # an unfinished batch being redone keeps its sequence number


def receive(ws: Workspace, path: Path) -> Intake:
    """Hash the file; if new, copy it unchanged into the batch store before anything else."""
    path = Path(path)
    sha = content_hash(path)
    batch_id = batch_id_of(sha)
    known = ws.state.get_batch(batch_id)
    if known is not None and (not known.unfinished or worker_alive(known.worker)):
        return Intake(batch_id, sha, path.name, True, Path(known.raw_path), known.status)
    raw = keep_raw(path, ws.batch_dir(batch_id), sha256=sha)
    if known is not None:  # stopped half-way before: redo it, never answer "duplicate"
        return Intake(batch_id, sha, known.source, False, raw, known.status, resume_seq=known.seq)
    return Intake(batch_id, sha, path.name, False, raw)


def this_worker() -> str:
    """Who runs a batch cycle: host and process id, recorded on the batch row."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_alive(worker: str | None) -> bool:
    """True while the process that started a batch still runs (it is in progress, not stuck)."""

    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process cannot be checked from here: its `recover` can
    return int(pid) != os.getpid() and is_alive(int(pid))


def time_range(frame: pd.DataFrame, time_column: str | None) -> tuple[str | None, str | None]:
    """First and last event time of a batch, as ISO text (None without a time column)."""
    if not time_column or time_column not in frame.columns:
        return None, None
    times = pd.to_datetime(frame[time_column], errors="coerce", utc=True).dropna()
    if times.empty:
        return None, None
    return times.min().isoformat(), times.max().isoformat()


def quarantine(
    ws: Workspace, intake: Intake, *, report: dict[str, Any], html: str
) -> tuple[Path, Path, Path]:
    """Move the raw copy to the quarantine folder with `report.json` and `report.html`.

    Returns:
        (raw file, report.json, report.html) paths.
    """
    target = ws.quarantine_dir(intake.batch_id)
    target.mkdir(parents=True, exist_ok=True)
    raw = target / intake.raw_path.name
    if intake.raw_path.exists() and intake.raw_path != raw:
        shutil.move(str(intake.raw_path), raw)
        shutil.rmtree(intake.raw_path.parent, ignore_errors=True)
    report_json = target / "report.json"
    report_json.write_text(json.dumps(report, indent=2, allow_nan=False, default=str))
    report_html = target / "report.html"
    report_html.write_text(html)
    return raw, report_json, report_html


def read_failure(*, source: str, message: str, suite_name: str) -> ContractResult:
    """A contract result for a file that could not be read at all: one blocking failure."""

    failure = ContractFailure(
        rule="readable_table",
        column=None,
        severity="block",
        unexpected_count=None,
        unexpected_percent=None,
        message=message,
    )
    return ContractResult(
        success=False, suite_name=suite_name, source=source, evaluated=1, passed=0, failures=(failure,)
    )
