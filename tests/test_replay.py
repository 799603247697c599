"""Replay: splitting and accounting (pure), then small streams through the real flows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
import yaml

from driftline.cli.replay import _COST_ORDER
from driftline.services.replay import (
    POLICIES,
    REPLAY_SHAP_ROWS,
    SYNTHETIC_ID,
    Batch,
    BatchRecord,
    ReplayError,
    finalize,
    plan_replay,
    replay_config,
    split_batches,
    step_record,
    summarize,
)

# Small windows and a quick model, so a replay of a few thousand rows takes seconds.
FAST_SETTINGS = {
    "window": {"min_train_rows": 200, "min_holdout_rows": 100},
    "gate": {"n_bootstrap": 100, "min_rows": 100},
    "model": {"shap_rows": 50, "params": {"max_iter": 20}},
    "policy": {"drift_k": 1, "drift_m": 1, "cooldown_batches": 0, "min_labeled_rows": 200},
}


def make_stream(kind: str, *, months: int = 6, per_month: int = 500, seed: int = 0) -> pd.DataFrame:
    """Shuffled rows over `months` months (ISO text times); x1 and x2 drift upward over time."""
    rng = np.random.default_rng(seed)
    rows = months * per_month
    start = pd.Timestamp("2024-01-01", tz="UTC")
    seconds = np.sort(
        rng.uniform(
            0,
            (pd.Timestamp("2024-01-01", tz="UTC") + pd.DateOffset(months=months) - start).total_seconds(),
            rows,
        )
    )
    times = start + pd.to_timedelta(seconds, unit="s")
    frac = np.arange(rows) / rows
    x1 = rng.normal(size=rows) + 1.5 * frac
    x2 = rng.normal(size=rows) + 1.5 * frac
    color = rng.choice(["red", "green", "blue"], rows)
    frame = pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(rows)],
            "ts": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x1": x1,
            "x2": x2,
            "color": color,
        }
    )
    if kind == "binary":
        frame["y"] = (2 * x1 + 1.5 * (color == "red") - 1.5 + rng.logistic(size=rows) > 0).astype(int)
    elif kind == "multiclass":
        frame["y"] = np.where(x2 > 1.0, "high", np.where(x2 < 0.0, "low", "mid"))
    else:
        frame["y"] = 3 * x2 + x1 + rng.normal(scale=0.3, size=rows)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


# Splitting ------------------------------------------------------------------------------------
def _assert_partition(frame: pd.DataFrame, batches: list[Batch]) -> None:
    """Every row exactly once, batches in time order, rows inside a batch in time order."""
    ids = pd.concat([b.frame["row_id"] for b in batches], ignore_index=True)
    assert len(ids) == len(frame) and ids.is_unique and set(ids) == set(frame["row_id"])
    times = [pd.to_datetime(b.frame["ts"]) for b in batches]
    assert all(t.is_monotonic_increasing for t in times)
    assert all(a.max() <= b.min() for a, b in zip(times, times[1:], strict=False))
    assert [b.index for b in batches] == list(range(1, len(batches) + 1))


def test_split_by_month_keeps_every_row_once_in_time_order() -> None:
    frame = make_stream("binary")
    batches = split_batches(frame, time_column="ts", freq="M")
    _assert_partition(frame, batches)
    assert [b.label[:7] for b in batches] == [f"2024-0{m}" for m in range(1, 7)]
    for batch in batches:
        assert pd.to_datetime(batch.frame["ts"]).dt.month.nunique() == 1
    weekly = split_batches(frame, time_column="ts", freq="2W")
    _assert_partition(frame, weekly)
    assert 12 <= len(weekly) <= 14


def test_split_by_rows_and_skipped_empty_periods() -> None:
    frame = make_stream("regression", months=3, per_month=300)
    batches = split_batches(frame, time_column="ts", rows=250)
    _assert_partition(frame, batches)
    assert [len(b.frame) for b in batches] == [250, 250, 250, 150]
    no_february = frame[pd.to_datetime(frame["ts"]).dt.month != 2]
    assert len(split_batches(no_february, time_column="ts", freq="MS")) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"freq": "M", "rows": 10}, "exactly one of --freq"),
        ({}, "exactly one of --freq"),
        ({"freq": "fortnight"}, "--freq 'fortnight'"),
        ({"rows": 0}, "--rows 0"),
    ],
)
def test_split_rejects_bad_options(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ReplayError, match=message):
        split_batches(make_stream("binary", months=2, per_month=20), time_column="ts", **kwargs)


def test_split_names_unreadable_times() -> None:
    frame = make_stream("binary", months=2, per_month=20)
    frame.loc[3, "ts"] = "not a time"
    with pytest.raises(ReplayError, match="1 of 40 rows have no readable time"):
        split_batches(frame, time_column="ts", freq="D")


def test_plan_makes_a_synthetic_id_only_for_late_labels_and_checks_warmup() -> None:
    frame = make_stream("binary", months=4, per_month=50).drop(columns=["row_id"])
    options = {"target": "y", "time_column": "ts", "freq": "MS", "rows": None, "policy": "never", "warmup": 2}
    assert plan_replay(frame, id_column=None, label_lag=0, **options).id_column is None
    late = plan_replay(frame, id_column=None, label_lag=1, **options)
    assert late.id_column == SYNTHETIC_ID and SYNTHETIC_ID in late.notes[0]
    assert pd.concat([b.frame[SYNTHETIC_ID] for b in late.batches]).is_unique
    with pytest.raises(ReplayError, match="duplicate"):
        plan_replay(frame.assign(key=1), id_column="key", label_lag=1, **options)
    with pytest.raises(ReplayError, match="need more than --warmup 4"):
        plan_replay(frame, id_column=None, label_lag=0, **{**options, "warmup": 4})
    with pytest.raises(ReplayError, match="--policy 'sometimes'"):
        plan_replay(frame, id_column=None, label_lag=0, **{**options, "policy": "sometimes"})


def test_replay_config_keeps_settings_but_not_storage_or_project() -> None:
    base = {
        "project": "prod",
        "storage": {"tracking_uri": "http://prod:5000"},
        "data": {"target": "old"},
        **FAST_SETTINGS,
    }
    raw = replay_config(base, project="replay-never", data={"target": "y", "time_column": "ts", "task": None})
    assert raw["project"] == "replay-never" and "storage" not in raw
    assert raw["data"] == {"target": "y", "time_column": "ts"} and raw["gate"] == FAST_SETTINGS["gate"]
    assert raw["model"]["shap_rows"] == 50 and raw["drift"]["html_report"] is False  # the base's own
    bare = replay_config({}, project="replay-always", data={"target": "y"}, recent_only=True)
    assert bare["model"]["shap_rows"] == REPLAY_SHAP_ROWS and bare["window"] == {"adaptive": False}
    grown = replay_config({}, project="replay-expanding", data={"target": "y"}, expanding=True)
    assert grown["window"] == {"expanding": True}


# Accounting -----------------------------------------------------------------------------------
def test_accounting_scores_only_accepted_batches_and_counts_each_once() -> None:
    batch = Batch(1, "2024-01-01", "2024-01-31", pd.DataFrame({"a": [1, 2]}))
    results = [
        (
            {"batch_id": "b1", "status": "accepted", "rows": 2},
            "warmup",
            {"version": "1", "gate": {"verdict": "promote"}},
        ),
        ({"batch_id": "b2", "status": "accepted", "rows": 2, "drift": {"share": 0.5}}, "replay", None),
        ({"batch_id": "b3", "status": "quarantined", "rows": 2}, "replay", None),
        ({"batch_id": "b2", "status": "duplicate", "rows": 2}, "replay", None),
        (
            {"batch_id": "b4", "status": "accepted", "rows": 2},
            "replay",
            {"version": "2", "gate": {"verdict": "reject"}},
        ),
    ]
    records = [
        step_record(
            batch,
            phase=phase,
            result=result,
            retrain=retrain,
            forced=False,
            labels_at=None,
            promoted=(retrain or {}).get("version") if phase == "warmup" else None,
        )
        for result, phase, retrain in results
    ]
    outcomes = {"b1": (None, None), "b2": ("1", 0.8), "b3": (None, None), "b4": ("1", float("nan"))}
    summary = summarize(
        finalize(records, outcomes), policy="driftline", metric="auc", higher_is_better=True, label_lag=0
    )
    scored = [r for r in summary["per_batch"] if r["scored"]]
    assert [r["batch_id"] for r in scored] == ["b2", "b4"]  # the duplicate of b2 is not scored again
    assert summary["mean_score"] == pytest.approx(0.8)  # b4's metric is undefined: left out
    assert (summary["quarantined"], summary["retrains"], summary["promotions"]) == (1, 1, 0)
    assert summary["initial_champion"] == summary["final_champion"] == "1"
    assert summary["per_batch"][1]["drift_share"] == 0.5
    assert isinstance(finalize(records, outcomes)[0], BatchRecord)


# End to end through the real flows ------------------------------------------------------------
@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture()
def quiet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI sets these with setdefault: set them here so nothing leaks into other tests."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _settings_file(folder: Path) -> Path:
    path = folder / "driftline.yaml"
    path.write_text(yaml.safe_dump({"project": "base", "data": {"target": "y"}, **FAST_SETTINGS}))
    return path


def _replay_by_month(
    frame: pd.DataFrame, folder: Path, *, policy: Literal["driftline", "never", "always", "expanding"]
) -> dict[str, Any]:
    """`frame` replayed in monthly batches (columns y / ts / row_id) with the fast settings."""
    from flows.replay import replay

    data = folder / "stream.parquet"
    frame.to_parquet(data, index=False)
    return replay(
        path=str(data),
        target="y",
        time_column="ts",
        freq="MS",
        id_column="row_id",
        policy=policy,
        directory=str(folder / "run"),
        config_path=str(_settings_file(folder)),
    )


def _check_serving_order(summary: dict[str, Any]) -> None:
    """Test-then-train: each scored batch is served by the newest champion promoted before it."""
    champion = None
    for rec in summary["per_batch"]:
        if rec["scored"]:
            assert rec["champion"] == champion, rec
        champion = rec["promoted"] or champion
    values = [r["metric"] for r in summary["per_batch"] if r["scored"] and r["metric"] is not None]
    assert summary["mean_score"] == pytest.approx(float(np.mean(values)))
    assert (
        len({r["batch_id"] for r in summary["per_batch"]}) == summary["batches"] == len(summary["per_batch"])
    )


@pytest.mark.slow
def test_binary_replay_compares_policies_with_late_labels(
    prefect_api: None, quiet_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from driftline.cli.app import app
    from driftline.core.config import load_config
    from driftline.services.workspace import Workspace

    data = tmp_path / "stream.csv"
    make_stream("binary", months=5).to_csv(data, index=False)
    monkeypatch.chdir(tmp_path)
    _settings_file(tmp_path)
    args = [
        "replay",
        str(data),
        "--target",
        "y",
        "--time-column",
        "ts",
        "--freq",
        "M",
        "--id-column",
        "row_id",
        "--label-lag",
        "1",
        "--compare",
        "--dir",
        str(tmp_path / "runs"),
        "--json",
        "out.json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "policies compared" in result.output
    assert "in 2 worker processes" in result.output  # --workers defaults to both cores
    # the workers talk to the parent's shared local API: no Prefect home (and server) of their own
    assert list((tmp_path / "runs").glob("prefect-worker-*")) == []
    report = json.loads((tmp_path / "out.json").read_text())
    assert [row["policy"] for row in report["compare"]] == ["driftline", "never", "always", "expanding"]
    assert Path(report["plot"]).is_file()
    for policy, summary in report["policies"].items():
        assert summary["metric"] == "auc" and summary["batches"] == 5 and summary["scored"] == 3, policy
        _check_serving_order(summary)
        replayed = [r for r in summary["per_batch"] if r["phase"] == "replay"]
        assert [r["labels_at"] for r in replayed] == [4, 5, 6]  # one batch later; the last at the end
        assert all(r["metric"] is not None for r in replayed)  # every label arrived, even the last
        ws = Workspace(load_config(tmp_path / "runs" / policy / "driftline.yaml"))
        artifacts = ws.registry.list_artifacts(summary["artifacts"]["mlflow_run_id"])
        assert {"replay/replay.png", "replay/replay.json"} <= set(artifacts)
        moves = [e for e in ws.state.read_ledger() if e["action"] == "promote"]
        assert len(moves) == summary["promotions"] + 1  # and the warmup's first champion
    never, always = report["policies"]["never"], report["policies"]["always"]
    assert (never["retrains"], never["promotions"]) == (0, 0)
    assert never["final_champion"] == never["initial_champion"] is not None
    assert always["retrains"] == always["promotions"] == 3
    ws = Workspace(load_config(tmp_path / "runs" / "always" / "driftline.yaml"))
    for rec in always["per_batch"][2:]:
        tags = ws.registry.get_version(rec["retrain"]).tags
        seen = tags["driftline.window"].split(",") + tags["driftline.holdout"].split(",")
        assert rec["batch_id"] not in seen  # its labels had not arrived when it retrained
    forced = [e for e in ws.state.read_ledger() if (e["decision"] or {}).get("forced")]
    assert len(forced) == always["forced_promotions"] == 3
    # a baseline serves the refit on its whole window: no gated twin is fitted or registered first
    assert {e["decision"]["case"] for e in forced} == {"forced"}
    for rec in always["per_batch"][2:]:
        version = ws.registry.get_version(rec["retrain"])
        assert "driftline.refit_of" not in version.tags and version.tags["driftline.holdout"] == ""


@pytest.mark.slow
def test_multiclass_replay_quarantines_a_broken_batch_without_scoring_it(
    prefect_api: None, quiet_env: None, tmp_path: Path
) -> None:
    from driftline.core.config import load_config
    from driftline.services.workspace import Workspace

    frame = make_stream("multiclass", months=5, seed=1)
    broken = pd.to_datetime(frame["ts"]).dt.month == 4
    frame.loc[broken, "x1"] = frame.loc[broken, "x1"] * 1000  # an upstream unit change in April
    summary = _replay_by_month(frame, tmp_path, policy="driftline")
    assert summary["metric"] == "macro_f1" and summary["quarantined"] == 1
    bad = summary["per_batch"][3]
    assert (bad["status"], bad["scored"], bad["champion"], bad["metric"]) == (
        "quarantined",
        False,
        None,
        None,
    )
    ws = Workspace(load_config(tmp_path / "run" / "driftline.yaml"))
    assert ws.state.predictions_with_labels([bad["batch_id"]]).empty
    assert summary["scored"] == 2 and sum(r["rows"] for r in summary["per_batch"]) == len(frame)
    said = [w for w in summary["warnings"] if w.startswith("QUARANTINED")]
    assert said and all(w.startswith("QUARANTINED 1 batch(es): column 'x1'") for w in said)  # median, spread
    assert "unit or scale change" in said[0] and "contract review" in said[0]
    _check_serving_order(summary)


@pytest.mark.slow
def test_regression_replay_by_rows_with_a_synthetic_id(
    prefect_api: None, quiet_env: None, tmp_path: Path
) -> None:
    from flows.replay import replay

    data = tmp_path / "stream.csv"
    make_stream("regression", months=5, seed=2).drop(columns=["row_id"]).to_csv(data, index=False)
    events: list[dict[str, Any]] = []
    summary = replay(
        path=str(data),
        target="y",
        time_column="ts",
        rows=500,
        label_lag=2,
        policy="never",
        directory=str(tmp_path / "run"),
        config_path=str(_settings_file(tmp_path)),
        progress=events.append,
    )
    assert summary["metric"] == "rmse" and summary["higher_is_better"] is False
    assert any(SYNTHETIC_ID in note for note in summary["notes"])
    assert summary["scored"] == 3 and all(r["metric"] is not None for r in summary["per_batch"][2:])
    assert [e["event"] for e in events] == ["start"] + ["batch"] * 5 + ["done"]
    _check_serving_order(summary)


def test_cli_replay_rejects_freq_and_rows_together(
    quiet_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from driftline.cli.app import app

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "s.csv"
    make_stream("binary", months=3, per_month=30).to_csv(data, index=False)
    args = ["replay", str(data), "--target", "y", "--time-column", "ts", "--freq", "M", "--rows", "10"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "exactly one of --freq" in result.output


def test_compare_starts_the_costliest_policies_first() -> None:
    assert sorted(POLICIES) == sorted(_COST_ORDER)  # a new policy must be placed in the order
    assert sorted(POLICIES, key=_COST_ORDER.index)[:2] == ["expanding", "always"]


@pytest.mark.slow
def test_a_warmup_too_small_for_a_model_is_reported_with_what_became_of_it(
    prefect_api: None, quiet_env: None, tmp_path: Path
) -> None:
    """Two warmup batches of 100 rows cannot hold 200 training and 100 holdout rows: the trivial
    baseline serves, and the policy trains the first model once batch 3's labels arrive. The
    warning says both, not only the warmup's state (which stopped being true at batch 3)."""
    from flows.replay import replay

    data = tmp_path / "stream.csv"
    make_stream("binary", months=8, per_month=100, seed=3).to_csv(data, index=False)
    summary = replay(
        path=str(data),
        target="y",
        time_column="ts",
        rows=100,
        id_column="row_id",
        policy="driftline",
        directory=str(tmp_path / "run"),
        config_path=str(_settings_file(tmp_path)),
    )
    first_real = next(r for r in summary["per_batch"][2:] if r["promoted"])
    (warning,) = summary["warnings"]
    assert warning.startswith("NO FIRST MODEL: TRIVIAL BASELINE SERVES")
    assert (
        f"the first model, v{first_real['promoted']}, served from after batch {first_real['batch']}"
        in warning
    )
    assert "not scored" not in warning  # the trivial baseline scored every batch until then
    assert summary["scored"] == len(summary["per_batch"]) - 2


@pytest.mark.slow
def test_a_warmup_batch_the_contract_learned_from_is_accepted_not_quarantined(
    prefect_api: None, quiet_env: None, tmp_path: Path
) -> None:
    """A lag feature is all-null in the first month: the contract learned from both warmup months
    allows at most 90% nulls (50% + 40%), so it would quarantine the first. It widens that rule
    instead, says so in the ledger, and a later unit change still blocks."""
    from driftline.core.config import load_config
    from driftline.services.contract_ops import read_ledger
    from driftline.services.workspace import Workspace

    frame = make_stream("binary", months=5, per_month=300, seed=4)
    month = pd.to_datetime(frame["ts"]).dt.month
    frame["lag"] = np.where(month == 1, np.nan, frame["x1"] + 0.5)
    frame.loc[month == 5, "x2"] *= 1000  # May: a unit change
    summary = _replay_by_month(frame, tmp_path, policy="never")
    statuses = [r["status"] for r in summary["per_batch"]]
    assert statuses == ["accepted", "accepted", "accepted", "accepted", "quarantined"]
    assert summary["per_batch"][1]["promoted"] is not None  # a first champion from both months
    ws = Workspace(load_config(tmp_path / "run" / "driftline.yaml"))
    (entry,) = [e for e in read_ledger(ws) if e["action"] == "accept"]
    assert entry["actor"] == "driftline" and entry["reason"].startswith("warmup batch 1:")
    assert [(c["rule"], c["column"]) for c in entry["changes"]] == [
        ("expect_column_values_to_not_be_null", "lag")
    ]
    assert sum(r["rows"] for r in summary["per_batch"]) == len(frame)  # nothing lost
