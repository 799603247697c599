"""Live shadow mode: the challenger scores new batches beside the champion, then the gate judges."""

from __future__ import annotations

import pytest

from driftline.core.config import load_config
from driftline.services.workspace import Workspace
from flows.batch_cycle import batch_cycle
from flows.retrain import retrain
from tests.flows.project import build_project, first_champion, write_batch

pytestmark = pytest.mark.slow


def test_shadow_challenger_is_logged_never_served_then_promoted(prefect_harness, tmp_path):
    ws = build_project(tmp_path)
    config = ws.config.base_dir / "driftline.yaml"
    config.write_text(config.read_text().replace("gate:\n", "gate:\n  mode: shadow\n"))
    ws = Workspace(load_config(config))
    assert ws.config.gate.mode == "shadow"

    def ingest(name, **kwargs):
        return batch_cycle(
            path=str(write_batch(tmp_path / name, **kwargs)), config_path=str(config), allow_retrain=False
        )

    for k in range(3):
        ingest(f"b{k}.parquet", rows=800, seed=400 + k, start=100_000 + k * 800, concept="b")
    pending = retrain(reason="test: shadow", config_path=str(config))
    assert pending["status"] == "shadow" and pending["gate"] is None
    assert ws.registry.version_by_alias("challenger").version == pending["version"]
    first = first_champion(ws)
    assert ws.registry.version_by_alias("champion").version == first

    small = ingest("s.parquet", rows=150, seed=410, start=110_000, concept="b")
    assert small["scoring"]["model_version"] == first
    assert small["scoring"]["shadow"]["model_version"] == pending["version"]
    assert small["retrain"] is None  # 150 labeled shadow rows < gate.min_rows (200)
    logged = ws.state.predictions_with_labels([small["batch_id"]])
    assert set(logged["role"]) == {"champion", "challenger"}

    judged = ingest("j.parquet", rows=400, seed=411, start=111_000, concept="b")
    gate = judged["retrain"]["gate"]
    assert gate["source"] == "shadow" and gate["n"] == 550
    assert judged["retrain"]["promoted"] is True
    assert ws.registry.version_by_alias("champion").version == pending["version"]
    assert ws.registry.version_by_alias("challenger") is None
