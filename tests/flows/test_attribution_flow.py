"""Attribution drift on a real project: `driftline models --compare A B` over two registered versions'
SHAP tables, and the per-batch comparison fed from the registry the way the batch cycle feeds it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftline.cli.app import app
from driftline.services.project import load_facts
from driftline.services.promotion import load_model
from flows.batch_cycle import batch_cycle
from flows.retrain import retrain
from models.spec import FeatureSpec
from monitoring.attribution import AttributionSettings, batch_attribution
from tests.flows.project import build_project, first_champion, write_batch
from tests.streams import make_batch

pytestmark = pytest.mark.slow

SHAP_TABLE = "shap/importance.csv"


@pytest.fixture(scope="module")
def project(prefect_harness, tmp_path_factory):
    """The first champion (concept 'a') and a version trained after three concept-'b' batches."""
    root = tmp_path_factory.mktemp("attribution")
    ws = build_project(root)
    config = str(ws.config.base_dir / "driftline.yaml")
    for k in range(3):
        path = write_batch(
            root / f"b{k}.parquet", rows=1000, seed=300 + k, start=80_000 + k * 1000, concept="b"
        )
        assert batch_cycle(path=str(path), config_path=config, allow_retrain=False)["status"] == "accepted"
    result = retrain(config_path=config, reason="test: concept b")
    assert result["version"], result
    return ws, first_champion(ws), str(result["version"])


def models(ws, *args: str):
    """`driftline models ...` in-process; the environment the command sets for itself is undone."""

    saved = dict(os.environ)
    try:
        config = str(ws.config.base_dir / "driftline.yaml")
        return CliRunner().invoke(app, ["models", *args, "--config", config])
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_compare_shows_the_new_drivers(project):
    ws, old, new = project
    done = models(ws, "--compare", old, new, "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert (result["a"], result["b"]) == (old, new)
    assert result["drifted"] and result["rank_correlation"] < 0.5, result["summary"]
    assert set(result["reference_top"][:3]) == {"x0", "x1", "colour"}
    assert set(result["current_top"][:2]) == {"x2", "x3"}
    assert {f["feature"] for f in result["features"]} == {"x0", "x1", "x2", "x3", "x4", "colour", "size"}

    text = models(ws, "--compare", old, new)
    assert text.exit_code == 0, text.output
    assert f"importance v{old}" in text.stdout and f"rank v{new}" in text.stdout
    assert "rank correlation" in text.stdout and "top-5 overlap" in text.stdout
    assert f"v{old} → v{new}: attribution drift" in text.stdout


def test_a_version_against_itself_is_stable(project):
    ws, old, _ = project
    done = models(ws, "--compare", old, old, "--json", "--top", "3")
    result = json.loads(done.stdout)
    assert result["rank_correlation"] == pytest.approx(1.0) and result["top_k_overlap"] == 1.0
    assert result["top_k"] == 3 and not result["drifted"]


def test_an_unknown_version_or_a_missing_shap_table_is_one_line(project):
    ws, old, new = project
    done = models(ws, "--compare", old, "999")
    assert done.exit_code == 2 and "has no version 999" in done.output

    run_id = ws.registry.get_version(new).run_id
    [table] = list(Path(ws.config.artifact_root).rglob(f"{run_id}/artifacts/{SHAP_TABLE}"))
    table.rename(table.with_suffix(".bak"))
    try:
        done = models(ws, "--compare", old, new)
    finally:
        table.with_suffix(".bak").rename(table)
    assert done.exit_code == 1
    assert f"v{new} has no SHAP table ({SHAP_TABLE})" in done.output
    assert len(done.output.strip().splitlines()) == 1


def test_the_batch_cycle_inputs_feed_batch_attribution(project):
    """What `run_batch` is to pass: the champion from the registry, its training-time table."""
    ws, _, _ = project
    champion = ws.registry.version_by_alias("champion")
    assert champion is not None
    facts = load_facts(ws)
    a = ws.config.attribution
    settings = AttributionSettings(
        top_k=a.top_k,
        min_rank_correlation=a.min_rank_correlation,
        min_top_k_overlap=a.min_top_k_overlap,
        min_rows=a.min_rows,
        min_features=a.min_features,
    )
    result = batch_attribution(
        load_model(ws, champion.version),
        make_batch(1000, seed=400, start=90_000, concept="b"),
        spec=FeatureSpec(numeric=facts.numeric, categorical=facts.categorical),
        reference_table=ws.registry.read_csv_artifact(champion.run_id, SHAP_TABLE),
        rows=a.rows,
        seed=ws.config.model.seed,
        settings=settings,
    )
    assert result is not None and result.n_rows == a.rows and result.judged
    assert set(result.metrics()) >= {"attribution_rank_corr", "attribution_topk_overlap"}
