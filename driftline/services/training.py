"""Retrain inputs and records: the window's frames, the reference sample and the lineage."""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
import pandas as pd

from data_contracts import review
from data_contracts.suite_io import suite_hash
from driftline.core.config import WindowConfig
from driftline.core.names import CHAMPION, Tag
from driftline.services.datasets import labeled_frame
from driftline.services.project import ProjectFacts
from driftline.services.workspace import Workspace
from driftline.store.state import BatchRow
from models.window import BatchRef, WindowSelection, select_window, spread_batches

PREDICTION_SCORE = "__prediction_score"


@dataclass(frozen=True)
class WindowData:
    """Training and holdout rows of one retrain, with the batches they came from."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    train_batches: tuple[BatchRow, ...]
    holdout_batches: tuple[BatchRow, ...]


def no_model_yet(ws: Workspace) -> bool:
    """No model has beaten the trivial baseline yet: there is no champion, or the baseline serves."""
    champion = ws.registry.version_by_alias(CHAMPION)
    return champion is None or champion.tags.get(Tag.TRIVIAL) == "true"


def first_model_minimums(w: WindowConfig) -> tuple[int, int]:
    """(training, holdout) labeled rows a retrain needs while no model has beaten the trivial
    baseline: `first_model_rows` in all, a third of them held out, never more than the usual
    minimums (which apply when it is not set)."""
    if w.first_model_rows is None:
        return w.min_train_rows, w.min_holdout_rows
    holdout = max(1, w.first_model_rows // 3)
    return min(w.min_train_rows, w.first_model_rows - holdout), min(w.min_holdout_rows, holdout)


def select(
    ws: Workspace, *, expanding: bool | None = None, any_rows: bool = False, first_model: bool = False
) -> WindowSelection:
    """The window over the accepted, labeled batches;
    `expanding` overrides the config's (the adaptive window's long candidate), `any_rows` drops
    the row minimums (what the trivial baseline is fitted on when a model cannot be yet),
    `first_model` lowers them to `first_model_minimums` (no model has beaten the baseline yet)."""

    w = ws.config.window
    usual = (w.min_train_rows, w.min_holdout_rows)
    min_train, min_holdout = first_model_minimums(w) if first_model else usual
    labeled = ws.state.labeled_counts()
    refs = [
        BatchRef(
            batch_id=b.batch_id,
            received_order=b.seq,
            rows=b.rows,
            labeled_rows=labeled.get(b.batch_id, 0),
            start_time=pd.Timestamp(b.start_time) if b.start_time else None,
            end_time=pd.Timestamp(b.end_time) if b.end_time else None,
            status=b.status,
        )
        for b in ws.state.list_batches()
    ]
    return select_window(
        refs,
        n_batches=w.batches,
        duration=w.duration,
        expanding=w.expanding if expanding is None else expanding,
        holdout_batches=w.holdout_batches,
        min_train_rows=1 if any_rows else min_train,
        min_holdout_rows=1 if any_rows else min_holdout,
    )


def long_window(ws: Workspace, facts: ProjectFacts, short: WindowData) -> WindowData | None:
    """`window.adaptive`: every accepted batch so far, sampled to a bounded size (`long_rows`): the
    batches read are spread evenly over the history (`spread_batches`), their rows sampled
    uniformly. The holdout is `short`'s; None when off, when that adds no training batch or the
    holdouts differ."""
    w = ws.config.window
    if not w.adaptive or w.expanding:
        return None
    selection = select(ws, expanding=True)
    if not selection.ok or len(selection.train) <= len(short.train_batches):
        return None
    rows = long_rows(
        len(short.train), multiple=w.long_multiple, min_rows=w.long_min_rows, max_rows=w.max_rows
    )
    if selection.holdout_tail_rows is None:  # read only the batches the sample can use
        selection = replace(selection, train=spread_batches(selection.train, rows))
    data = load_window(ws, selection, facts)
    same = [b.batch_id for b in data.holdout_batches] == [b.batch_id for b in short.holdout_batches]
    if not same or len(data.holdout) != len(short.holdout):
        return None
    train = uniform_sample(data.train, rows, seed=ws.config.model.seed)
    return WindowData(
        train=train,
        holdout=data.holdout,
        train_batches=data.train_batches,
        holdout_batches=data.holdout_batches,
    )


def long_rows(recent_rows: int, *, multiple: float, min_rows: int, max_rows: int) -> int:
    """How many training rows the adaptive long window fits: `multiple` x the recent window's, or
    `min_rows` if more (fits that small are cheap), and at most `max_rows`. It depends on the
    window's size, not on how long the stream has run."""
    return max(1, min(max_rows, max(min_rows, int(multiple * recent_rows))))


def uniform_sample(frame: pd.DataFrame, rows: int, *, seed: int) -> pd.DataFrame:
    """At most `rows` rows of `frame`, drawn uniformly (seeded) over its whole span and kept in
    their original (time) order; a frame that small is returned whole."""
    if len(frame) <= rows:
        return frame
    keep = np.sort(np.random.default_rng(seed).choice(len(frame), size=rows, replace=False))
    return frame.iloc[keep].reset_index(drop=True)


def whole_window(data: WindowData) -> WindowData:
    """The window with its holdout folded into training (nothing held out)."""
    return WindowData(
        train=pd.concat([data.train, data.holdout], ignore_index=True),
        holdout=data.holdout.iloc[:0],
        train_batches=tuple({b.batch_id: b for b in data.train_batches + data.holdout_batches}.values()),
        holdout_batches=(),
    )


def load_window(ws: Workspace, selection: Any, facts: ProjectFacts) -> WindowData:
    """Read the raw batches of a window selection and join their labels."""
    rows = {b.batch_id: b for b in ws.state.list_batches()}
    train_rows = tuple(rows[r.batch_id] for r in selection.train)
    holdout_rows = tuple(rows[r.batch_id] for r in selection.holdout)
    data = ws.config.data
    regression = facts.task == "regression"

    def frame(rows: tuple[BatchRow, ...]) -> pd.DataFrame:
        return labeled_frame(
            ws.state, rows, target=data.target, id_column=data.id_column, regression=regression
        )

    tail = selection.holdout_tail_rows
    if tail is None:
        train, holdout = frame(train_rows), frame(holdout_rows)
    else:  # batches too small to hold whole ones out: the newest rows are the holdout
        both = frame(train_rows + holdout_rows)
        train, holdout = both.iloc[:-tail].reset_index(drop=True), both.iloc[-tail:].reset_index(drop=True)
    return WindowData(train=train, holdout=holdout, train_batches=train_rows, holdout_batches=holdout_rows)


def reference_sample(
    frame: pd.DataFrame, scores: pd.Series, *, columns: list[str], rows: int, seed: int
) -> pd.DataFrame:
    """Seeded sample of training rows (features + the model's score) for later drift checks."""
    sample = frame[columns].assign(**{PREDICTION_SCORE: scores.to_numpy()})
    if len(sample) > rows:
        sample = sample.sample(n=rows, random_state=seed)
    return sample.reset_index(drop=True)


def lineage(data: WindowData, *, suite: dict[str, Any]) -> dict[str, Any]:
    """Which batches (ids and content hashes), which contract, which code trained a model."""
    return {
        "train_batches": [
            {"batch_id": b.batch_id, "sha256": b.sha256, "source": b.source} for b in data.train_batches
        ],
        "holdout_batches": [
            {"batch_id": b.batch_id, "sha256": b.sha256, "source": b.source} for b in data.holdout_batches
        ],
        "train_rows": len(data.train),
        "holdout_rows": len(data.holdout),
        "contract_suite_hash": suite_hash(suite),
        "contract_suite_version": review.version(suite),
        "code_version": code_version(),
    }


def code_version() -> str:
    """The package version, plus the git commit when Driftline runs from a checkout."""
    import subprocess
    from pathlib import Path

    version = f"driftline {package_version('driftline')}"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version} (git {sha})" if sha else version
