"""Alerts from the real flows reach a local webhook: quarantine, drift, the gate's decision, and a
tampered champion. Delivery trouble never fails a batch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from driftline.services import alerts
from flows.batch_cycle import batch_cycle
from flows.retrain import retrain
from mlflow_server import registry as reg
from tests.driftline.test_alerts import receiver  # noqa: F401 - the local webhook fixture
from tests.flows.project import SMALL, init_from, write_batch
from tests.streams import make_batch

pytestmark = pytest.mark.slow


def test_flow_events_are_delivered_to_the_routes(prefect_harness, tmp_path, receiver):  # noqa: F811
    history = pd.concat([make_batch(1000, seed=s, start=s * 1000) for s in range(4)])
    extra = dict(SMALL) | {"alerts": {"routes": [{"url": receiver.url("hook")}], "cooldown_minutes": 60}}
    ws = init_from(history, tmp_path, extra=extra)
    config = str(ws.config.base_dir / "driftline.yaml")
    titles = lambda: [p["title"] for p in receiver.payloads("hook")]  # noqa: E731
    assert any(alerts.GATE_PROMOTE in t for t in titles())  # init's first champion

    broken = make_batch(400, seed=500, start=500_000).drop(columns=["x0"])
    broken.to_parquet(tmp_path / "broken.parquet", index=False)
    result = batch_cycle(path=str(tmp_path / "broken.parquet"), config_path=config)
    assert result["status"] == "quarantined"
    [quarantined] = [p for p in receiver.payloads("hook") if alerts.QUARANTINE in p["title"]]
    assert "broken.parquet" in quarantined["message"] and "x0" in quarantined["message"]

    drifted = write_batch(
        tmp_path / "drifted.parquet", rows=1200, seed=501, start=501_000, shift=2.0, concept="b"
    )
    result = batch_cycle(path=str(drifted), config_path=config)
    triggers = result["decision"]["triggers"]
    assert result["decision"]["retrain"] and triggers
    expected = {"drift": alerts.DRIFT_TRIGGER, "performance": alerts.PERFORMANCE_DROP}
    for trigger in triggers:
        assert any(expected[trigger] in t for t in titles()), (trigger, titles())
    gate = [t for t in titles() if alerts.GATE_PROMOTE in t or alerts.GATE_REJECT in t]
    assert len(gate) == 2, titles()  # init's, and the drift-triggered retrain's verdict
    stored = {a["kind"] for a in ws.state.list_alerts(limit=100)}
    assert {alerts.QUARANTINE, alerts.GATE_PROMOTE, *(expected[t] for t in triggers)} <= stored


def test_a_tampered_champion_is_alerted_and_a_dead_route_never_fails_a_batch(prefect_harness, tmp_path):
    history = pd.concat([make_batch(1000, seed=s, start=s * 1000) for s in range(4)])
    extra = dict(SMALL) | {"alerts": {"routes": [{"url": "json://127.0.0.1:9/closed"}], "retries": 0}}
    ws = init_from(history, tmp_path, extra=extra)
    config = str(ws.config.base_dir / "driftline.yaml")
    ok = batch_cycle(
        path=str(write_batch(tmp_path / "ok.parquet", rows=300, seed=600, start=600_000)), config_path=config
    )
    assert ok["status"] == "accepted"  # a gate alert to a closed port was attempted and recorded
    assert any(a["status"] == "failed" for a in ws.state.list_alerts())

    for path in Path(ws.config.artifact_root).rglob(reg.MODEL_FILE):
        path.write_bytes(path.read_bytes() + b"tampered")
    reg._load_model.cache_clear()
    with pytest.raises(reg.ModelIntegrityError):
        batch_cycle(
            path=str(write_batch(tmp_path / "next.parquet", rows=300, seed=601, start=601_000)),
            config_path=config,
        )
    [integrity] = ws.state.list_alerts(kind=alerts.CHAMPION_INTEGRITY)
    assert integrity["severity"] == "critical" and "refusing to load" in integrity["message"]
    with pytest.raises(reg.ModelIntegrityError):
        retrain(config_path=config, reason="manual")  # the champion cannot be loaded to compare
    [failed] = ws.state.list_alerts(kind=alerts.RETRAIN_FAILED)
    assert "retrain (manual) failed: ModelIntegrityError" in failed["message"]
