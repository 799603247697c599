"""The batch cycle as a service: no Prefect, no MLflow server. The registry, the contract
validator, the drift detector and the retrain are in-memory fakes; the state store is the real
SQLite adapter in a temporary folder; scoring, labels, realized performance, the review queue,
alerts and the policy are the real services."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from data_contracts.results import ContractFailure, ContractResult
from driftline.core.config import parse_config
from driftline.core.names import CHAMPION, Tag
from driftline.core.outcomes import RetrainOutcome
from driftline.services import alerts
from driftline.services.batch_cycle import BatchOutcome, CycleSteps, run_batch
from driftline.services.bootstrap import init_contract
from driftline.services.project import load_facts
from driftline.services.workspace import Workspace
from mlflow_server.registry import VersionInfo
from models.spec import FeatureSpec
from models.train import fit_model
from monitoring.drift_result import DriftResult
from tests.streams import make_batch

SETTINGS = {
    "project": "svc",
    "data": {"target": "y", "id_column": "event_id", "time_column": "ts"},
    "policy": {"min_labeled_rows": 300, "cooldown_batches": 1},
    "attribution": {"enabled": False},
}


class FakeRegistry:
    """The registry port in memory: one champion, its training reference, the monitoring run."""

    def __init__(self, pipeline: Any, reference: pd.DataFrame, *, holdout_metric: float) -> None:
        self.champion = VersionInfo("1", "run-1", (CHAMPION,), {Tag.HOLDOUT_METRIC: str(holdout_metric)}, 0)
        self.pipeline, self.reference = pipeline, reference
        self.metrics: dict[int, dict[str, float | None]] = {}
        self.artifacts: list[tuple[Path, str | None]] = []

    def version_by_alias(self, alias: str) -> VersionInfo | None:
        return self.champion if alias == CHAMPION else None

    def load_model(self, version: str, **_checks: Any) -> Any:
        assert version == self.champion.version
        return self.pipeline

    def load_reference(self, version: str) -> pd.DataFrame:
        return self.reference

    def read_json_artifact(self, run_id: str, path: str) -> Any:
        return None  # no calibration: the estimate says so

    def monitoring_run(self) -> str:
        return "monitoring"

    def log_metrics(self, run_id: str, metrics: dict[str, float | None], *, step: int = 0) -> None:
        self.metrics[step] = dict(metrics)

    def log_artifact(self, run_id: str, path: Path, *, folder: str | None = None) -> None:
        self.artifacts.append((path, folder))


def fake_validator(frame: pd.DataFrame, suite: dict[str, Any], source: str) -> ContractResult:
    """Blocks a unit change: x0 a thousand times its usual scale."""
    broken = int((frame["x0"].abs() > 100).sum())
    failures = (
        (
            ContractFailure(
                "expect_column_values_to_be_between", "x0", "block", broken, 100.0, (), None, "x0 scale"
            ),
        )
        if broken
        else ()
    )
    return ContractResult(not broken, "svc", source, 1, 1 - bool(broken), failures)


def fake_drift(current: pd.DataFrame, reference: pd.DataFrame, **_settings: Any) -> DriftResult:
    """Drift when the batch's mean of x0 moved by more than one unit."""
    moved = abs(current["x0"].mean() - reference["x0"].mean()) > 1.0
    drifted = ("x0",) if moved else ()
    return DriftResult(
        moved, 0.2 if moved else 0.0, 0.5, drifted, (), None, len(current), len(reference), None
    )


@pytest.fixture()
def project(tmp_path: Path) -> tuple[Workspace, FakeRegistry, list[dict[str, Any]]]:
    cfg = parse_config(SETTINGS, base_dir=tmp_path)
    history = pd.concat([make_batch(1000, seed=s, start=s * 1000) for s in range(2)])
    history.to_parquet(tmp_path / "history.parquet", index=False)
    init_contract(cfg, tmp_path / "history.parquet")
    ws = Workspace(cfg)
    facts = load_facts(ws)
    spec = FeatureSpec(numeric=facts.numeric, categorical=facts.categorical)
    trained = fit_model(history, target="y", spec=spec, task="binary", params={"max_iter": 30})
    registry = FakeRegistry(trained.pipeline, history[list(facts.features)], holdout_metric=0.9)
    return Workspace(cfg, _registry=registry), registry, []  # type: ignore[arg-type]


def steps(retrains: list[dict[str, Any]]) -> CycleSteps:
    def retrain(ws: Workspace, *, reason: str, after_seq: int) -> RetrainOutcome:
        retrains.append({"reason": reason, "after_seq": after_seq})
        return RetrainOutcome(status="not_enough_data", reason=reason)

    return CycleSteps(
        retrain=retrain, shadow_gate=lambda ws, facts: None, validate=fake_validator, drift=fake_drift
    )


def batch_file(tmp_path: Path, name: str, **kwargs: Any) -> str:
    path = tmp_path / name
    make_batch(**kwargs).to_parquet(path, index=False)
    return str(path)


def test_a_good_batch_is_scored_monitored_and_decided(project: Any, tmp_path: Path) -> None:
    ws, registry, retrains = project
    got = run_batch(ws, batch_file(tmp_path, "b1.parquet", rows=500, seed=10, start=5000), steps(retrains))
    assert isinstance(got, BatchOutcome)
    assert (got.status, got.seq, got.rows) == ("accepted", 1, 500)
    assert got.scoring is not None and (got.scoring["rows_scored"], got.scoring["model_version"]) == (
        500,
        "1",
    )
    assert got.drift is not None and not got.drift.detected
    assert got.decision is not None and not got.decision.retrain
    metric = load_facts(ws).metric
    assert got.performance and got.performance["champion:1"][metric] > 0.8  # on the batch's own labels
    assert retrains == []
    row = ws.state.get_batch(got.batch_id)
    assert row is not None and (row.status, row.stage, row.champion_version) == ("accepted", "done", "1")
    assert len(ws.state.predictions_with_labels([got.batch_id])) == 500
    assert registry.metrics[1]["rows"] == 500 and registry.metrics[1]["contract_success_pct"] == 100.0
    assert got.to_dict()["status"] == "accepted" and got.to_dict()["decision"]["retrain"] is False


def test_a_broken_batch_is_quarantined_kept_and_alerted_and_the_next_one_goes_on(
    project: Any, tmp_path: Path
) -> None:
    ws, registry, retrains = project
    frame = make_batch(500, seed=11, start=6000)
    frame["x0"] *= 1000.0
    frame.to_parquet(tmp_path / "units.parquet", index=False)
    got = run_batch(ws, str(tmp_path / "units.parquet"), steps(retrains))
    assert got.status == "quarantined"
    assert got.contract is not None and got.contract.failures[0].column == "x0"
    kept = pd.read_parquet(got.quarantine["raw"]) if got.quarantine else None
    assert kept is not None and kept.equals(frame)  # nothing lost
    assert Path(got.quarantine["report_html"]).is_file()  # type: ignore[index]
    assert registry.metrics[1]["quarantined"] == 1.0
    assert [a["kind"] for a in ws.state.list_alerts()] == [alerts.QUARANTINE]
    assert ws.state.predictions_with_labels([got.batch_id]).empty  # nothing was scored
    after = run_batch(ws, batch_file(tmp_path, "b2.parquet", rows=500, seed=12, start=7000), steps(retrains))
    assert (after.status, after.seq) == ("accepted", 2)


def test_the_same_file_twice_is_a_duplicate_and_recorded_once(project: Any, tmp_path: Path) -> None:
    ws, _registry, retrains = project
    path = batch_file(tmp_path, "b1.parquet", rows=400, seed=13, start=8000)
    first = run_batch(ws, path, steps(retrains))
    again = run_batch(ws, path, steps(retrains))
    assert (again.status, again.previous_status, again.rows) == ("duplicate", "accepted", 400)
    assert again.batch_id == first.batch_id
    assert len(ws.state.list_batches()) == 1
    assert len(ws.state.predictions_with_labels([first.batch_id])) == 400


def test_a_concept_change_asks_for_a_retrain_and_the_retrain_port_runs_it(
    project: Any, tmp_path: Path
) -> None:
    ws, _registry, retrains = project
    got = run_batch(
        ws, batch_file(tmp_path, "b.parquet", rows=600, seed=14, start=9000, concept="b"), steps(retrains)
    )
    assert got.decision is not None and got.decision.retrain
    assert "performance" in got.decision.triggers
    assert retrains == [{"reason": "policy: performance", "after_seq": 1}]
    assert got.retrain is not None and got.retrain.status == "not_enough_data"


def test_with_retrains_not_allowed_the_decision_is_recorded_and_nothing_retrains(
    project: Any, tmp_path: Path
) -> None:
    ws, _registry, retrains = project
    path = batch_file(tmp_path, "b.parquet", rows=600, seed=15, start=9000, concept="b", shift=2.0)
    got = run_batch(ws, path, steps(retrains), allow_retrain=False)
    assert got.decision is not None and got.decision.retrain and got.drift is not None and got.drift.detected
    assert retrains == [] and got.retrain is None
    row = ws.state.get_batch(got.batch_id)
    assert row is not None and row.drift_detected is True and row.decision["retrain"] is True


def test_the_service_layer_loads_without_prefect() -> None:
    code = (
        "import sys, driftline.services.batch_cycle; print(any(m.startswith('prefect') for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
