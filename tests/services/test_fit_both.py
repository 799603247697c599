"""The adaptive window's two fits run at the same time: same models as fitting one after the other."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from driftline.core.config import parse_config
from driftline.services.bootstrap import init_contract
from driftline.services.project import load_facts
from driftline.services.retrain_steps import _fits_at_once, fit, fit_both
from driftline.services.workspace import Workspace
from models.train import prepare_features
from tests.streams import make_batch

SETTINGS = {
    "project": "fits",
    "data": {"target": "y", "id_column": "event_id", "time_column": "ts"},
    "model": {"params": {"max_iter": 40}},
}


def test_fitting_two_windows_at_once_gives_the_models_one_after_the_other_gives(tmp_path: Path) -> None:
    cfg = parse_config(SETTINGS, base_dir=tmp_path)
    history = pd.concat([make_batch(800, seed=s, start=s * 800) for s in range(2)])
    history.to_parquet(tmp_path / "history.parquet", index=False)
    init_contract(cfg, tmp_path / "history.parquet")
    ws = Workspace(cfg)
    facts = load_facts(ws)
    recent = make_batch(1500, seed=7, start=5000, shift=1.0, concept="b")
    long = pd.concat([history, recent], ignore_index=True)

    together = fit_both(ws, [recent, long], facts)
    apart = [fit(ws, recent, facts), fit(ws, long, facts)]

    rows = prepare_features(make_batch(300, seed=9, start=9000), together[0].spec)
    for both, one in zip(together, apart, strict=True):
        np.testing.assert_array_equal(both.pipeline.predict_proba(rows), one.pipeline.predict_proba(rows))
    # the two windows make different models: the comparison above is not of one model with itself
    recent_scores, long_scores = (m.pipeline.predict_proba(rows) for m in together)
    assert not np.array_equal(recent_scores, long_scores)


def test_fits_run_one_at_a_time_when_each_would_take_every_core(monkeypatch) -> None:
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _fits_at_once(2) == min(2, cores)
    monkeypatch.setenv("OMP_NUM_THREADS", str(cores))
    assert _fits_at_once(2) == 1
