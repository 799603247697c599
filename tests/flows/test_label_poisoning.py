"""A batch or a late label file with labels the model cannot learn from: the labels are kept aside,
the batch is still scored, and the next retrain trains on the good labels only."""

from __future__ import annotations

import json

import pytest

from flows.batch_cycle import batch_cycle
from flows.labels import deliver_labels
from flows.retrain import retrain
from tests.flows.project import build_project
from tests.streams import make_batch

pytestmark = pytest.mark.slow


def test_unseen_classes_go_to_the_label_quarantine_and_never_break_a_retrain(prefect_harness, tmp_path):
    ws = build_project(tmp_path)
    config = str(ws.config.base_dir / "driftline.yaml")
    poisoned = make_batch(600, seed=300, start=300_000)
    poisoned["y"] = poisoned["y"].astype(object)
    poisoned.loc[:49, "y"] = 2  # an unseen class in a 0/1 target
    poisoned.to_csv(tmp_path / "poisoned.csv", index=False)
    result = batch_cycle(path=str(tmp_path / "poisoned.csv"), config_path=config, allow_retrain=False)
    assert result["status"] == "accepted" and result["scoring"]["rows_scored"] == 600
    assert result["labels_rejected"].startswith("poisoned.csv: column 'y': 50 of 600 labels rejected")
    kept = ws.root / "labels" / "quarantine" / result["batch_id"]
    assert len((kept / "rejected.csv").read_text().splitlines()) == 51
    assert set(ws.state.labels_for(result["batch_id"])["label"]) == {"0", "1"}

    late = make_batch(300, seed=301, start=301_000)
    late.to_csv(tmp_path / "unlabeled.csv", index=False, columns=[c for c in late.columns if c != "y"])
    batch_cycle(path=str(tmp_path / "unlabeled.csv"), config_path=config, allow_retrain=False)
    late["y"] = late["y"].map({0: "no", 1: "1"})
    late[["event_id", "y"]].to_csv(tmp_path / "late.csv", index=False)
    delivered = deliver_labels(path=str(tmp_path / "late.csv"), config_path=config)
    n_no = int((late["y"] == "no").sum())
    assert delivered["rejected"] == n_no and delivered["recorded"] == 300 - n_no
    assert "rule: a label must be one of the classes the model knows (0, 1)" in delivered["rejected_message"]

    outcome = retrain(reason="after poisoned labels", config_path=config)
    assert outcome["version"], json.dumps(outcome, default=str)
    window = ws.registry.get_version(outcome["version"]).tags["driftline.window"].split(",")
    assert result["batch_id"] in window
