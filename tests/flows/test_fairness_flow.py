"""Fairness per group from the real batch cycle: a known disparity is measured, charted in the
MLflow monitoring run and alerted; the gate's fairness rule takes part in a real retrain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from driftline.core.config import load_config
from driftline.services import alerts
from driftline.services.workspace import Workspace
from flows.batch_cycle import batch_cycle
from flows.retrain import retrain
from tests.flows.project import SMALL, init_from
from tests.streams import make_batch

pytestmark = pytest.mark.slow


def unfair(batch: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Half the rows are group B, whose true positives are mostly relabeled negative: a model that
    follows the features then over-predicts positives for B relative to its labels."""
    rng = np.random.default_rng(seed)
    out = batch.assign(group=np.where(rng.random(len(batch)) < 0.5, "A", "B"))
    flip = (out["group"] == "B") & (out["y"] == 1) & (rng.random(len(out)) < 0.7)
    out.loc[flip, "y"] = 0
    return out


def test_a_known_disparity_is_measured_charted_and_alerted(prefect_harness, tmp_path):
    history = pd.concat([make_batch(1000, seed=s, start=s * 1000).assign(group="A") for s in range(4)])
    history.loc[history.index % 2 == 1, "group"] = "B"
    extra = dict(SMALL) | {"fairness": {"max_disparity": 0.1, "min_group_rows": 50}}
    ws = init_from(history, tmp_path, extra=extra)
    config = str(ws.config.base_dir / "driftline.yaml")
    raw = yaml.safe_load(Path(config).read_text())
    raw["data"]["sensitive"] = ["group"]  # declared after init, as a user adds it later
    Path(config).write_text(yaml.safe_dump(raw))
    ws = Workspace(load_config(Path(config)))
    path = tmp_path / "unfair.parquet"
    unfair(make_batch(1500, seed=700, start=700_000), seed=1).to_parquet(path, index=False)
    result = batch_cycle(path=str(path), config_path=config, allow_retrain=False)
    assert result["status"] == "accepted"
    fairness = result["fairness"]
    assert fairness is not None and fairness["worst_disparity"] > 0.2, fairness
    run = ws.registry.client.get_run(ws.registry.monitoring_run())
    assert run.data.metrics["fairness.group.eo_diff"] > 0.2
    assert {"fairness.group.A.tpr", "fairness.group.B.fpr"} <= set(run.data.metrics)
    [alert] = ws.state.list_alerts(kind=alerts.FAIRNESS_BREACH)
    assert alert["subject"] == "group" and "fairness.max_disparity 0.1" in alert["message"]

    outcome = retrain(config_path=config, reason="after the unfair batch")
    rules = [r["name"] for r in (outcome["gate"] or {}).get("rules", [])]
    assert "fairness:group" in rules, rules
