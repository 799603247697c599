"""No model beats the trivial baseline yet: the baseline serves, is measured, and retrains keep trying."""

from __future__ import annotations

import pandas as pd
import pytest

from driftline.core.names import Tag
from driftline.services import training
from driftline.services.reporting import status_summary
from flows.batch_cycle import batch_cycle
from tests.flows.project import SMALL, init_from, write_batch
from tests.streams import make_batch

pytestmark = pytest.mark.slow

# The project's usual minimums (300 to train, 200 held out, gate 200) with a first model's 60.
FIRST_60 = {**SMALL, "window": {**SMALL["window"], "first_model_rows": 60}}


def test_first_model_that_loses_to_the_baseline_lets_the_baseline_serve(prefect_harness, tmp_path):
    noise = pd.concat([make_batch(600, seed=s, start=s * 600, shuffle_labels=True) for s in range(4)])
    ws = init_from(noise, tmp_path)
    config = ws.config.base_dir / "driftline.yaml"
    champion = ws.registry.version_by_alias("champion")
    assert champion is not None and champion.tags[Tag.TRIVIAL] == "true"
    ledger = ws.state.read_ledger()
    assert [e["action"] for e in ledger] == ["reject", "promote"]
    assert ledger[0]["decision"]["case"] == "no_champion" and not ledger[0]["decision"]["promote"]
    assert ledger[1]["decision"]["case"] == "trivial_baseline" and ledger[1]["to_version"] == champion.version

    path = write_batch(tmp_path / "next.parquet", rows=600, seed=50, start=50_000, shuffle_labels=True)
    result = batch_cycle(path=str(path), config_path=str(config), allow_retrain=False)
    assert result["scoring"]["model_version"] == champion.version and result["scoring"]["rows_scored"] == 600
    realized = result["performance"][f"champion:{champion.version}"]
    assert realized["n"] == 600 and realized["auc"] == pytest.approx(0.5)  # constant scores
    # To the policy the baseline is no champion: it asks for a retrain once labels accrue, no cooldown.
    assert result["decision"]["retrain"] is True
    assert "no champion yet" in " ".join(result["decision"]["reasons"])

    status = status_summary(ws.config)
    assert status["champion"]["trivial"] is True
    assert any(a.startswith("TRIVIAL BASELINE SERVES") for a in status["alerts"])


def test_too_few_rows_for_a_model_lets_the_baseline_serve_until_there_are(prefect_harness, tmp_path):
    small = pd.concat([make_batch(12, seed=s, start=s * 12) for s in range(4)])  # 48 < first_model_rows 60
    ws = init_from(small, tmp_path, task="binary", extra=FIRST_60)
    config = ws.config.base_dir / "driftline.yaml"
    champion = ws.registry.version_by_alias("champion")
    assert champion is not None and champion.tags[Tag.TRIVIAL] == "true"
    (entry,) = ws.state.read_ledger()
    assert (
        entry["decision"]["case"] == "trivial_baseline" and "no model trained" in entry["decision"]["summary"]
    )

    # With no model yet, the policy asks for a retrain once window.first_model_rows (60) labeled
    # rows have arrived, not policy.min_labeled_rows (300 in this project).
    path = write_batch(tmp_path / "few.parquet", rows=70, seed=59, start=59_000)
    result = batch_cycle(path=str(path), config_path=str(config), allow_retrain=False)
    assert result["decision"]["retrain"] is True
    reasons = ["no champion yet: training the first model on 118 labeled rows"]  # 48 + 70, none trained on
    assert result["decision"]["reasons"] == reasons

    # Enough labeled rows now: the policy retrains (no cooldown) and a real model replaces it.
    path = write_batch(tmp_path / "more.parquet", rows=900, seed=60, start=60_000)
    result = batch_cycle(path=str(path), config_path=str(config))
    assert result["scoring"]["model_version"] == champion.version  # scored by the baseline first
    assert result["retrain"]["promoted"] is True, result["retrain"]["gate"]["summary"]
    assert result["retrain"]["reason"].startswith("policy: no champion yet: training the first model")
    served = ws.registry.version_by_alias("champion")
    assert served.version != champion.version and Tag.TRIVIAL not in served.tags


def test_a_first_model_needs_only_first_model_rows_then_the_usual_minimums_apply(prefect_harness, tmp_path):
    # 160 rows: under the project's minimums (300 to train, 200 held out, gate 200) but over
    # window.first_model_rows (60: 40 to train, 20 held out), so init trains and judges a real model.
    small = pd.concat([make_batch(40, seed=s, start=s * 40) for s in range(4)])
    ws = init_from(small, tmp_path, task="binary", extra=FIRST_60)
    assert training.first_model_minimums(ws.config.window) == (40, 20)
    gated = ws.state.read_ledger()[0]["decision"]
    assert gated["case"] == "no_champion" and gated["promote"] is True
    assert gated["n"] == 40  # the newest batch, under gate.min_rows (200)
    rules = {r["name"]: r for r in gated["rules"]}
    assert rules["min_rows"]["message"] == "holdout has 40 labeled rows (minimum 20)"
    assert rules["beats_baseline"]["passed"]  # the bar for a first model: the baseline, by its lower bound
    champion = ws.registry.version_by_alias("champion")
    assert champion is not None and Tag.TRIVIAL not in champion.tags
    assert not training.no_model_yet(ws)
    # A model serves now: the usual minimums are back, and the same history is too small.
    assert not training.select(ws).ok
    assert training.select(ws, first_model=True).ok
