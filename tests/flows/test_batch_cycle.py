"""The batch-cycle flow on Prefect's real engine, with real GE, Evidently and MLflow (SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.batch_cycle import batch_cycle
from tests.flows.project import build_project, first_champion, write_batch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(prefect_harness, tmp_path_factory):
    root = tmp_path_factory.mktemp("cycle")
    ws = build_project(root)
    return ws, root


def run(ws, path: Path, **kwargs):
    state = batch_cycle(
        path=str(path), config_path=str(ws.config.base_dir / "driftline.yaml"), return_state=True, **kwargs
    )
    return state, state.result()


def test_init_trains_first_champion_through_no_champion_gate(project):
    ws, _ = project
    champion = ws.registry.version_by_alias("champion")
    ledger = ws.state.read_ledger()
    assert champion is not None and ledger[0]["to_version"] == champion.version
    assert ledger[0]["from_version"] is None and ledger[0]["decision"]["case"] == "no_champion"


def test_clean_batch_is_scored_logged_and_not_drifted(project):
    ws, root = project
    path = write_batch(root / "clean.parquet", rows=1200, seed=100, start=10_000)
    state, result = run(ws, path, allow_retrain=False)
    assert state.name == "Completed" and result["status"] == "accepted"
    served = first_champion(ws)
    assert result["scoring"]["model_version"] == served and result["scoring"]["rows_scored"] == 1200
    assert result["drift"]["detected"] is False
    assert Path(result["drift"]["report"]).is_file()
    perf = result["performance"][f"champion:{served}"]
    assert perf["n"] == 1200 and perf["auc"] > 0.75
    logged = ws.state.predictions_with_labels([result["batch_id"]])
    assert len(logged) == 1200 and set(logged["model_version"]) == {served}
    assert set(logged["row_key"]).issuperset({"e10000", "e11199"})
    batch = ws.state.get_batch(result["batch_id"])
    assert batch.status == "accepted" and Path(batch.raw_path).is_file()


def test_shifted_batch_shows_drift(project):
    ws, root = project
    path = write_batch(root / "shifted.parquet", rows=1200, seed=101, start=20_000, shift=1.5)
    _, result = run(ws, path, allow_retrain=False)
    assert result["drift"]["detected"] is True
    assert {"x0", "x1", "x2"} <= set(result["drift"]["drifted_columns"])
    decision = result["decision"]
    # one drifted batch is not a drift trigger (2 of the last 3 are needed) ...
    assert "drift" not in decision["triggers"]
    assert any("no drift trigger" in r and "needs at least 2 of 3" in r for r in decision["reasons"])
    # ... the retrain, if any, comes from realized performance, and says so
    assert decision["retrain"] is bool(decision["triggers"]) and set(decision["triggers"]) <= {"performance"}
    assert decision["retrain"] is any("below the champion's holdout" in r for r in decision["reasons"])


def test_duplicate_changes_nothing(project):
    ws, root = project
    path = write_batch(root / "twice.parquet", rows=300, seed=108, start=80_000)
    _, first = run(ws, path, allow_retrain=False)
    assert first["status"] == "accepted"
    before = len(ws.state.list_batches())
    copy = root / "twice-renamed.parquet"
    copy.write_bytes(path.read_bytes())  # the same content under another name
    for again in (path, copy):
        _, result = run(ws, again, allow_retrain=False)
        assert result["status"] == "duplicate" and result["batch_id"] == first["batch_id"]
    assert len(ws.state.list_batches()) == before


def test_renamed_column_is_quarantined_with_reports_and_never_scored(project):
    ws, root = project
    frame = write_batch(root / "tmp.parquet", rows=800, seed=102, start=30_000)
    import pandas as pd

    broken = pd.read_parquet(frame).rename(columns={"x1": "x_one"})
    path = root / "renamed.parquet"
    broken.to_parquet(path, index=False)
    state, result = run(ws, path)
    assert state.name == "Quarantined"
    assert result["status"] == "quarantined" and result["scoring"] is None
    blocking = [f for f in result["contract"]["failures"] if f["severity"] == "block"]
    assert [f["rule"] for f in blocking] == ["expect_table_columns_to_match_set"]
    assert "x_one" in blocking[0]["message"] or "x1" in blocking[0]["message"]
    paths = result["quarantine"]
    assert Path(paths["raw"]).read_bytes() == path.read_bytes()
    assert json.loads(Path(paths["report_json"]).read_text())["success"] is False
    html = Path(paths["report_html"]).read_text()
    assert "QUARANTINED" in html and "http" not in html.lower().replace("http-equiv", "")
    assert ws.state.predictions_with_labels([result["batch_id"]]).empty


def test_empty_file_is_quarantined_and_next_batch_still_works(project):
    ws, root = project
    empty = root / "empty.csv"
    empty.write_text("")
    state, result = run(ws, empty)
    assert state.name == "Quarantined"
    assert "empty" in result["contract"]["failures"][0]["message"]
    path = write_batch(root / "after.parquet", rows=600, seed=103, start=40_000)
    _, result = run(ws, path, allow_retrain=False)
    assert result["status"] == "accepted"


def test_late_labels_join_and_unknown_ids_are_reported(project):
    ws, root = project
    import pandas as pd

    from flows.labels import deliver_labels

    frame = pd.read_parquet(write_batch(root / "unl.parquet", rows=700, seed=104, start=50_000))
    frame.drop(columns=["y"]).to_parquet(root / "unlabeled.parquet", index=False)
    _, result = run(ws, root / "unlabeled.parquet", allow_retrain=False)
    assert result["performance"] is None
    labels = frame[["event_id", "y"]]
    labels = pd.concat([labels, pd.DataFrame({"event_id": ["nope-1", "nope-2"], "y": [0, 1]})])
    labels.to_csv(root / "labels.csv", index=False)
    out = deliver_labels(
        path=str(root / "labels.csv"), config_path=str(ws.config.base_dir / "driftline.yaml")
    )
    assert out["recorded"] == 700 and out["unknown"] == 2
    assert "event_id" in out["unknown_message"] and "labels.csv" in out["unknown_message"]
    assert out["performance"][result["batch_id"]][f"champion:{first_champion(ws)}"]["n"] == 700
    assert ws.state.get_batch(result["batch_id"]).serving_metric > 0.75
