"""The adaptive long window: every batch so far, sampled to a size set by the recent window, so a
retrain's cost does not grow with the stream's history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.core.config import parse_config
from driftline.services import training
from driftline.services.bootstrap import init_contract
from driftline.services.project import load_facts
from driftline.services.workspace import Workspace
from models.window import BatchRef, spread_batches
from tests.streams import make_batch, record_labeled_batches

ROWS = 400  # per batch


def project(tmp_path: Path, **window: object) -> Workspace:
    settings = {
        "project": "long",
        "data": {"target": "y", "id_column": "event_id", "time_column": "ts"},
        "window": {
            "batches": 3,
            "min_train_rows": 10,
            "min_holdout_rows": 10,
            "long_min_rows": 100,
            **window,
        },
    }
    cfg = parse_config(settings, base_dir=tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    make_batch(ROWS, seed=0).to_parquet(tmp_path / "history.parquet", index=False)
    init_contract(cfg, tmp_path / "history.parquet")
    return Workspace(cfg)


def add_labeled_batches(ws: Workspace, count: int) -> None:
    record_labeled_batches(ws, range(count), rows=ROWS)


def windows(ws: Workspace) -> tuple[training.WindowData, training.WindowData | None]:
    facts = load_facts(ws)
    short = training.load_window(ws, training.select(ws), facts)
    return short, training.long_window(ws, facts, short)


@pytest.mark.parametrize("count", [6, 40])  # history below the cap, far above it
def test_the_long_window_is_bounded_by_the_recent_window_not_by_history(tmp_path, count):
    ws = project(tmp_path)
    add_labeled_batches(ws, count)
    short, long = windows(ws)
    assert long is not None
    assert len(short.train) == 3 * ROWS  # the last 3 batches before the held-out newest one
    cap = int(ws.config.window.long_multiple * len(short.train))
    assert len(long.train) == min(cap, (count - 1) * ROWS)
    # the sample spans the whole history, in time order, and the holdout is the recent window's
    drawn = long.train["__batch_id"]
    assert drawn.iloc[0] == "b0000" and drawn.iloc[-1] == f"b{count - 2:04d}"
    assert drawn.is_monotonic_increasing
    assert drawn.nunique() == (count - 1 if count == 6 else cap // ROWS)  # only what it needs is read
    assert long.holdout["event_id"].tolist() == short.holdout["event_id"].tolist()
    # lineage names exactly the batches rows were drawn from
    assert [b.batch_id for b in long.train_batches] == sorted(drawn.unique())


def test_a_larger_multiple_or_floor_keeps_more_history_and_max_rows_still_caps_it(tmp_path):
    ws = project(tmp_path, long_multiple=4.0)
    add_labeled_batches(ws, 20)
    assert len(windows(ws)[1].train) == 4 * 3 * ROWS
    floor = ws.config.window.model_copy(update={"long_min_rows": 6_000})
    assert len(windows(Workspace(ws.config.model_copy(update={"window": floor})))[1].train) == 6_000
    window = ws.config.window.model_copy(update={"max_rows": 500})
    capped = Workspace(ws.config.model_copy(update={"window": window}))
    assert len(windows(capped)[1].train) == 500


def test_no_long_window_when_it_adds_no_batch_or_adaptive_is_off(tmp_path):
    ws = project(tmp_path)
    add_labeled_batches(ws, 3)  # every batch is already in the recent window
    assert windows(ws)[1] is None
    off = project(tmp_path / "off", adaptive=False)
    add_labeled_batches(off, 8)
    assert windows(off)[1] is None


def test_spread_batches_keeps_the_ends_and_spaces_the_rest_evenly():
    refs = [
        BatchRef(f"b{k}", received_order=k, rows=100, labeled_rows=100, start_time=None, end_time=None,
                 status="accepted")
        for k in range(21)
    ]  # fmt: skip
    picked = [r.received_order for r in spread_batches(refs, 500)]
    assert picked == [0, 5, 10, 15, 20]
    assert spread_batches(refs, 2_100) == tuple(refs)  # they fit: all of them
    assert [r.received_order for r in spread_batches(refs, 1)] == [0, 20]


def test_uniform_sample_is_seeded_ordered_and_leaves_small_frames_whole():
    frame = pd.DataFrame({"i": np.arange(1000)})
    one = training.uniform_sample(frame, 100, seed=3)
    assert len(one) == 100 and one["i"].is_monotonic_increasing and one["i"].is_unique
    assert one.equals(training.uniform_sample(frame, 100, seed=3))
    assert not one.equals(training.uniform_sample(frame, 100, seed=4))
    assert one["i"].min() < 100 and one["i"].max() > 900  # drawn over the whole span
    assert training.uniform_sample(frame, 1000, seed=3) is frame


def test_long_rows_is_a_multiple_of_the_recent_window_at_least_min_rows_within_max_rows():
    assert training.long_rows(5_000, multiple=2.0, min_rows=1_000, max_rows=200_000) == 10_000
    assert training.long_rows(5_000, multiple=2.0, min_rows=1_000, max_rows=7_000) == 7_000
    assert training.long_rows(300, multiple=2.0, min_rows=1_000, max_rows=200_000) == 1_000
    assert training.long_rows(300, multiple=2.0, min_rows=1_000, max_rows=800) == 800
