"""Scratch: the proposed estimate wiring through the real flows (binary and multiclass)."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.batch_cycle import batch_cycle
from flows.labels import deliver_labels
from monitoring.estimate import CALIBRATION_ARTIFACT, Calibration
from tests.flows.project import build_project, write_batch

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_estimate_is_stored_logged_and_compared_when_labels_land(prefect_harness, tmp_path, task):
    ws = build_project(tmp_path, task=task)
    champion = ws.registry.version_by_alias("champion")
    raw = ws.registry.read_json_artifact(champion.run_id, CALIBRATION_ARTIFACT)
    if task == "regression":
        assert raw is None
    else:
        cal = Calibration.from_dict(raw)
        print("calibration", cal.method, cal.rows, cal.note, champion.tags.get("driftline.refit_of"))
    cfg = str(ws.config.base_dir / "driftline.yaml")

    # in-batch labels
    path = write_batch(tmp_path / "clean.parquet", rows=1200, seed=100, start=10_000, task=task)
    result = batch_cycle(path=str(path), config_path=cfg, allow_retrain=False)
    metric = ws.state.get_batch(result["batch_id"])
    print("in-batch", task, result["estimate"], metric.serving_metric)

    # late labels
    frame = pd.read_parquet(
        write_batch(tmp_path / "unl.parquet", rows=900, seed=104, start=50_000, task=task, shift=0.7)
    )
    frame.drop(columns=["y"]).to_parquet(tmp_path / "unlabeled.parquet", index=False)
    result = batch_cycle(path=str(tmp_path / "unlabeled.parquet"), config_path=cfg, allow_retrain=False)
    before = ws.state.get_batch(result["batch_id"])
    print("late, before labels", result["estimate"], before.estimated_metric, result["decision"]["reasons"])
    frame[["event_id", "y"]].to_csv(tmp_path / "labels.csv", index=False)
    deliver_labels(path=str(tmp_path / "labels.csv"), config_path=cfg)
    after = ws.state.get_batch(result["batch_id"])
    history = ws.registry.client.get_metric_history(
        ws.registry.monitoring_run(), f"estimate_error_{after and ws.state and result and _metric(ws)}"
    )
    print(
        "late, after labels",
        after.estimated_metric,
        after.serving_metric,
        [(m.step, m.value) for m in history],
    )
    if task == "regression":
        assert before.estimated_metric is None and history == []
    else:
        assert before.estimated_metric is not None
        assert abs(before.estimated_metric - after.serving_metric) < 0.06
        assert [m.step for m in history] == [before.seq - 1, before.seq] or len(history) >= 2


def _metric(ws):
    from driftline.services.project import load_facts

    return load_facts(ws).metric
