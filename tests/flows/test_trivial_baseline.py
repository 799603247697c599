"""No model beats the trivial baseline yet: the baseline serves, is measured, and retrains keep trying."""

from __future__ import annotations

import pandas as pd
import pytest

from driftline.core.names import Tag
from driftline.services.reporting import status_summary
from flows.batch_cycle import batch_cycle
from tests.flows.project import init_from, write_batch
from tests.streams import make_batch

pytestmark = pytest.mark.slow


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
    small = pd.concat([make_batch(40, seed=s, start=s * 40) for s in range(4)])  # 160 < 300 rows
    ws = init_from(small, tmp_path, task="binary")
    config = ws.config.base_dir / "driftline.yaml"
    champion = ws.registry.version_by_alias("champion")
    assert champion is not None and champion.tags[Tag.TRIVIAL] == "true"
    (entry,) = ws.state.read_ledger()
    assert (
        entry["decision"]["case"] == "trivial_baseline" and "no model trained" in entry["decision"]["summary"]
    )

    # Enough labeled rows now: the policy retrains (no cooldown) and a real model replaces it.
    path = write_batch(tmp_path / "more.parquet", rows=900, seed=60, start=60_000)
    result = batch_cycle(path=str(path), config_path=str(config))
    assert result["scoring"]["model_version"] == champion.version  # scored by the baseline first
    assert result["retrain"]["promoted"] is True, result["retrain"]["gate"]["summary"]
    served = ws.registry.version_by_alias("champion")
    assert served.version != champion.version and Tag.TRIVIAL not in served.tags
