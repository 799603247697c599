"""Retrain, gate, promotion and rollback against a real `mlflow server` process."""

from __future__ import annotations

import pytest

from driftline.services import promotion
from flows.batch_cycle import batch_cycle
from flows.retrain import retrain
from tests.flows.project import build_project, first_champion, write_batch

pytestmark = [pytest.mark.slow, pytest.mark.server]


@pytest.fixture(scope="module")
def project(prefect_harness, mlflow_server_url, tmp_path_factory):
    root = tmp_path_factory.mktemp("retrain")
    return build_project(root, tracking_uri=mlflow_server_url), root


def ingest(ws, path):
    return batch_cycle(
        path=str(path), config_path=str(ws.config.base_dir / "driftline.yaml"), allow_retrain=False
    )


def config_path(ws) -> str:
    return str(ws.config.base_dir / "driftline.yaml")


def test_first_champion_is_registered_with_shap_lineage_and_alias(project):
    ws, _ = project
    registry = ws.registry
    assert registry.tracking_uri.startswith("http://127.0.0.1:")
    v1 = registry.version_by_alias("champion")
    assert v1 is not None and v1.version == first_champion(ws)
    artifacts = set(registry.list_artifacts(v1.run_id))
    assert {"shap/importance.csv", "shap/beeswarm.png", "shap/bar.png"} <= artifacts
    assert {"lineage.json", "gate/decision.json", "reference/reference.parquet"} <= artifacts
    assert "MLmodel" in registry.model_files(v1.version)
    # gate.refit_on_promotion: the gated model held the newest batch out; the served one learned it
    gated = registry.get_version(v1.tags["driftline.refit_of"])
    assert gated.tags["driftline.refit_to"] == v1.version and gated.tags["driftline.gate"] == "promote"
    assert len(gated.tags["driftline.window"].split(",")) == 3 and gated.tags["driftline.holdout"]
    window = gated.tags["driftline.window"].split(",") + gated.tags["driftline.holdout"].split(",")
    assert v1.tags["driftline.window"].split(",") == window and not v1.tags["driftline.holdout"]
    assert v1.tags["driftline.contract_hash"]
    # SHAP once per retrain: the gated twin borrows its refit's summary instead of computing one
    assert not any(a.startswith("shap/") for a in registry.list_artifacts(gated.run_id))
    assert gated.tags["driftline.top_features"] == v1.tags["driftline.top_features"]
    assert f"see v{v1.version}" in gated.tags["driftline.shap"]
    top = v1.tags["driftline.top_features"].split(",")
    assert {"x0", "x1"} & set(top[:3]), top
    assert float(v1.tags["driftline.holdout_metric"]) > 0.75


def test_challenger_on_shuffled_labels_is_rejected(project):
    ws, root = project
    for k in range(3):
        ingest(
            ws,
            write_batch(
                root / f"noise{k}.parquet",
                rows=800,
                seed=200 + k,
                start=60_000 + k * 800,
                shuffle_labels=True,
            ),
        )
    ingest(ws, write_batch(root / "real.parquet", rows=800, seed=210, start=70_000))
    result = retrain(reason="test: shuffled", config_path=config_path(ws))
    assert result["promoted"] is False and result["gate"]["verdict"] == "reject"
    assert any(not r["passed"] for r in result["gate"]["rules"])
    first = first_champion(ws)
    assert ws.registry.version_by_alias("champion").version == first
    rejected = ws.registry.get_version(result["version"])
    assert rejected.tags["driftline.status"] == "rejected" and rejected.tags["driftline.gate_reasons"]
    assert "challenger" not in rejected.aliases
    # a rejected candidate has no refit: its own SHAP summary is logged after the gate
    assert "shap/importance.csv" in set(ws.registry.list_artifacts(rejected.run_id))
    assert rejected.tags["driftline.top_features"] and "driftline.shap" not in rejected.tags
    entry = ws.state.read_ledger()[-1]
    assert (entry["action"], entry["from_version"], entry["to_version"]) == (
        "reject",
        first,
        result["version"],
    )
    assert entry["decision"]["verdict"] == "reject"


def test_clearly_better_challenger_is_promoted_and_rollback_restores(project):
    ws, root = project
    for k in range(4):
        ingest(
            ws,
            write_batch(
                root / f"concept_b{k}.parquet", rows=900, seed=300 + k, start=80_000 + k * 900, concept="b"
            ),
        )
    result = retrain(reason="test: concept drift", config_path=config_path(ws))
    assert result["promoted"] is True, result["gate"]["rules"]
    assert result["gate"]["difference"] > 0.1
    # window.adaptive: both windows were fitted and scored on one holdout; the better one was kept
    gated = ws.registry.get_version(result["gated_version"])
    scores = ws.registry.client.get_run(gated.run_id).data.metrics
    recent, long = scores["window_recent_auc"], scores["window_long_auc"]
    kept = "long window" if long > recent else "recent window"
    assert gated.tags["driftline.window_choice"].startswith(kept)
    assert scores["holdout_auc"] == pytest.approx(max(recent, long))
    new = ws.registry.version_by_alias("champion")
    assert new.version == result["version"]
    assert ws.state.read_ledger()[-1]["to_version"] == new.version
    # A retry of promote-or-reject after the alias moved: the same answer, no second ledger entry.
    from prefect import flow

    from models.gate import GateVerdict
    from tasks.retrain import decide_task

    @flow(name="retry-promote")
    def retry() -> bool:
        gate = result["gate"]  # the promotion's verdict, as the flow returned it
        verdict = GateVerdict(
            gate["promote"], gate["case"], gate["metric"], gate["summary"], tuple(gate["reasons"])
        )
        return bool(decide_task(ws, new.version, verdict, trigger="retry", actor="test"))

    entries = len(ws.state.read_ledger())
    assert retry() is True
    assert len(ws.state.read_ledger()) == entries
    entry = promotion.rollback(ws, actor="test", reason="test rollback")
    assert entry["to_version"] == first_champion(ws)
    assert ws.registry.version_by_alias("champion").version == first_champion(ws)
    assert ws.state.read_ledger()[-1]["action"] == "rollback"


def test_monitoring_run_charts_one_step_per_batch_on_the_server(project):
    ws, _ = project
    registry = ws.registry
    history = registry.client.get_metric_history(registry.monitoring_run(), "drift_share")
    steps = sorted(m.step for m in history)
    accepted = [b.seq for b in ws.state.list_batches(status="accepted")]
    assert steps == accepted and len(steps) >= 8
    artifacts = registry.list_artifacts(registry.monitoring_run())
    assert any(a.endswith("drift.html") for a in artifacts)
    run = registry.client.get_run(registry.monitoring_run())
    for name in ("latency_ms_per_row.p99", "scoring_rows_per_second", "cycle_seconds"):
        assert name in run.data.metrics, name
    for stage in ("read", "contract", "score", "drift", "labels"):
        assert run.data.metrics[f"stage_seconds.{stage}"] >= 0
        assert run.data.metrics[f"rows_per_second.{stage}"] > 0
    p50, p99 = run.data.metrics["latency_ms_per_row.p50"], run.data.metrics["latency_ms_per_row.p99"]
    assert 0 < p50 <= p99


def test_promotion_refuses_a_version_with_incomplete_artifacts(project):
    ws, _ = project
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    registry = ws.registry
    run_id = registry.start_run(name="incomplete")
    frame = pd.DataFrame({"x0": [0.0, 1.0]})
    model = DummyClassifier().fit(frame, [0, 1])
    version = registry.log_model(
        run_id,
        model,
        input_example=frame,
        trusted_types=[],
        pip_requirements=["scikit-learn"],
        reference=frame,
    )
    before = registry.version_by_alias("champion").version
    with pytest.raises(promotion.PromotionError, match="gate/decision.json"):
        promotion.promote(ws, version, decision={}, trigger="test", actor="test")
    assert registry.version_by_alias("champion").version == before
