"""The work of one `driftline ingest FILE --no-retrain`, done with the libraries directly, in one process.

This is the baseline of `benchmarks/bench_cli_ingest.py` (results and method in
docs/benchmarks.md, section "Whole-process ingest"). Run it as a fresh process, the way the CLI
runs:

    python benchmarks/bare_ingest.py --make-spec --config PROJECT/driftline.yaml --out spec.json
    python benchmarks/bare_ingest.py BATCH.csv --spec spec.json --workdir /tmp/bare [--extras]

`--make-spec` is the only mode that imports Driftline: it resolves the project's config once (the
tracking URI, the suite file, the feature lists, the drift settings) into a small JSON file. The
measured mode imports no Driftline module except the constant ``driftline.core.env.PROCESS_ENV``
(telemetry off, ``OMP_NUM_THREADS=1``: the same environment as the CLI).

The core work (the list in issue 10):

1. ``hashlib.file_digest`` (sha256) + ``shutil.copy2`` into a batch folder;
2. ``pd.read_csv`` / ``pd.read_parquet``;
3. Great Expectations 1.x ephemeral context, the project's suite JSON as a ``gx.ExpectationSuite``,
   ``batch.validate(suite, result_format="SUMMARY")``;
4. the champion from MLflow: alias look-up, ``mlflow.sklearn.load_model("models:/NAME/V")`` (the
   skops file driftline registers; the trusted types come from the MLmodel file), then
   ``predict_proba`` on the feature columns (numeric as float, categorical as text);
5. ``sqlite3`` ``executemany`` of the prediction rows (same columns and indexes as Driftline's
   ``predictions`` table, in a separate SQLite file);
6. Evidently 0.7: the champion run's ``reference/reference.parquet``, both sides sampled to
   ``drift.max_rows`` (seeded), ``DataDriftPreset`` + ``ValueDrift`` of the prediction score,
   ``save_html`` + ``json()``;
7. MLflow ``log_metrics`` (as many as the CLI logs per batch) + ``log_artifact`` of the HTML, into
   one long-lived run of the project's experiment.

``--extras`` adds what `driftline ingest` also does by default on a labeled batch, beyond that list:

8. ``sqlite3`` insert of the label rows (unique index on batch id + row key);
9. sklearn AUC / accuracy / F1 of the champion on the labeled rows;
10. attribution: SHAP ``TreeExplainer`` on a seeded sample (``attribution.rows``) of the batch, mean
    |SHAP| per original feature, Spearman rank correlation with the champion's training table
    (``shap/importance.csv``).

Not redone here (each costs milliseconds in the CLI): the label-free estimate, the review queue,
the state rows, the policy, alerts, Prefect artifacts.

Output: one JSON object on stdout (``--json-out FILE`` writes it to a file instead): seconds and
CPU seconds per import and per stage, and a few values to check the work was really done.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PREDICTION = "__prediction_score"


def apply_env() -> None:
    """Driftline's process environment (values the caller set explicitly win, as in the CLI)."""
    sys.path.insert(0, str(ROOT))
    from driftline.core.env import PROCESS_ENV  # a dict of constants; imports nothing heavy

    for key, value in PROCESS_ENV.items():
        os.environ.setdefault(key, value)


class Clock:
    """Wall and CPU seconds per label."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._label = ""

    def __call__(self, label: str) -> Clock:
        self._label = label
        return self

    def __enter__(self) -> None:
        self._t, self._c = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        self.wall[self._label] = self.wall.get(self._label, 0.0) + time.perf_counter() - self._t
        self.cpu[self._label] = self.cpu.get(self._label, 0.0) + time.process_time() - self._c


# ---------------------------------------------------------------------------------------------
# --make-spec: resolve the project once with Driftline (not part of any measurement)
# ---------------------------------------------------------------------------------------------
def make_spec(config: Path, out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from driftline.core.config import load_config

    cfg = load_config(config)
    facts = json.loads((cfg.root / "reference" / "facts.json").read_text())
    spec = {
        "project": cfg.project,
        "tracking_uri": cfg.tracking_uri,
        "model_name": cfg.model_name,
        "experiment": cfg.model_name,
        "suite_path": str(cfg.suite_path),
        "target": cfg.data.target,
        "id_column": cfg.data.id_column,
        "numeric": facts["numeric"],
        "categorical": facts["categorical"],
        "positive_label": facts.get("positive_label"),
        "drift": {
            "max_rows": cfg.drift.max_rows,
            "seed": cfg.drift.seed,
            "drift_share": cfg.drift.drift_share,
        },
        "attribution": {"rows": cfg.attribution.rows, "seed": cfg.model.seed},
    }
    out.write_text(json.dumps(spec, indent=2))
    print(f"wrote {out}")


# ---------------------------------------------------------------------------------------------
# The measured run
# ---------------------------------------------------------------------------------------------
PREDICTIONS_DDL = """
CREATE TABLE IF NOT EXISTS predictions (
    batch_id VARCHAR(32) NOT NULL, row_key VARCHAR(64) NOT NULL, role VARCHAR(16) NOT NULL,
    model_version VARCHAR(16) NOT NULL, prediction TEXT, score FLOAT, latency_ms FLOAT);
CREATE INDEX IF NOT EXISTS ix_predictions_key ON predictions (batch_id, row_key);
CREATE INDEX IF NOT EXISTS ix_predictions_row ON predictions (row_key);
CREATE TABLE IF NOT EXISTS labels (
    batch_id VARCHAR(32) NOT NULL, row_key VARCHAR(64) NOT NULL, label TEXT NOT NULL,
    received_at VARCHAR(40) NOT NULL, source VARCHAR(16));
CREATE UNIQUE INDEX IF NOT EXISTS ix_labels_key ON labels (batch_id, row_key);
"""


def run(batch: Path, spec: dict[str, Any], workdir: Path, *, extras: bool) -> dict[str, Any]:
    clock = Clock()
    imports = Clock()
    with imports("pandas+numpy"):
        import numpy as np
        import pandas as pd
    with imports("great_expectations"):
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
    with imports("mlflow"):
        import mlflow
        import mlflow.sklearn
        from mlflow import MlflowClient
    with imports("evidently"):
        from evidently import DataDefinition, Dataset, Report
        from evidently.metrics import ValueDrift
        from evidently.presets import DataDriftPreset
    if extras:
        with imports("sklearn.metrics"):
            from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
        with imports("shap+scipy"):
            import shap
            from scipy.stats import spearmanr
    import hashlib
    import shutil
    import sqlite3

    features = [*spec["numeric"], *spec["categorical"]]
    target, id_column = spec["target"], spec["id_column"]
    info: dict[str, Any] = {}

    # 1. hash + copy
    with clock("receive"):
        with batch.open("rb") as handle:
            sha = hashlib.file_digest(handle, "sha256").hexdigest()
        batch_id = sha[:16]
        folder = workdir / "batches" / batch_id
        folder.mkdir(parents=True, exist_ok=True)
        raw = folder / f"raw{batch.suffix}"
        shutil.copy2(batch, raw)

    # 2. read
    with clock("read"):
        frame = pd.read_parquet(raw) if raw.suffix == ".parquet" else pd.read_csv(raw)

    # 3. GE validation with the project's suite
    with clock("contract"):
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        batch_def = (
            context.data_sources.add_pandas(name="bare")
            .add_dataframe_asset(name="batch")
            .add_batch_definition_whole_dataframe(name="whole")
        )
        raw_suite = json.loads(Path(spec["suite_path"]).read_text())
        # Optional columns (the target) may be present: allow them in the column-set rule.
        optional = (raw_suite.get("meta") or {}).get("driftline", {}).get("optional_columns") or []
        for entry in raw_suite["expectations"]:
            if entry["type"] == "expect_table_columns_to_match_set":
                listed = entry["kwargs"]["column_set"]
                listed += [c for c in optional if c in frame.columns and c not in listed]
        suite = gx.ExpectationSuite(**raw_suite)
        if len(suite.expectations) != len(raw_suite["expectations"]):
            raise SystemExit("GE dropped expectations of the suite: not the same work")
        outcome = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite, result_format="SUMMARY"
        )
    info["ge_expectations"] = len(outcome.results)
    info["ge_success"] = bool(outcome.success)
    info["ge_failed"] = [
        [r.expectation_config.type, r.expectation_config.kwargs.get("column")]
        for r in outcome.results
        if not r.success
    ]

    # 4. champion from MLflow + predict
    with clock("load_model"):
        mlflow.set_tracking_uri(spec["tracking_uri"])
        mlflow.set_registry_uri(spec["tracking_uri"])
        client = MlflowClient(tracking_uri=spec["tracking_uri"], registry_uri=spec["tracking_uri"])
        champion = client.get_model_version_by_alias(spec["model_name"], "champion")
        pipeline = mlflow.sklearn.load_model(f"models:/{spec['model_name']}/{champion.version}")
    with clock("predict"):
        X = pd.DataFrame(
            {c: pd.to_numeric(frame[c], errors="coerce").astype(float) for c in spec["numeric"]}
            | {c: frame[c].astype(str).where(frame[c].notna(), None) for c in spec["categorical"]},
            index=frame.index,
        )
        proba = pipeline.predict_proba(X)
        classes = [str(c) for c in pipeline.classes_]
        positive = classes.index(spec["positive_label"]) if spec.get("positive_label") in classes else -1
        score = proba[:, positive]
        label = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    info["model_version"] = str(champion.version)
    info["mean_score"] = float(score.mean())

    # 5. prediction rows into SQLite
    db_path = workdir / "bare.db"
    row_key = frame[id_column].astype(str).to_numpy() if id_column else frame.index.astype(str).to_numpy()
    with clock("log_predictions"):
        db = sqlite3.connect(db_path)
        db.executescript(PREDICTIONS_DDL)
        with db:
            db.executemany(
                "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?)",
                zip(
                    [batch_id] * len(frame),
                    row_key.tolist(),
                    ["champion"] * len(frame),
                    [str(champion.version)] * len(frame),
                    label.tolist(),
                    score.tolist(),
                    [0.0] * len(frame),
                    strict=True,
                ),
            )

    # 6. Evidently drift report against the champion's reference sample, HTML saved
    report_path = workdir / "reports" / batch_id / "drift.html"
    with clock("drift.reference"):
        ref_file = mlflow.artifacts.download_artifacts(
            run_id=champion.run_id,
            artifact_path="reference/reference.parquet",
            dst_path=str(folder),
            tracking_uri=spec["tracking_uri"],
        )
        reference = pd.read_parquet(ref_file)
    with clock("drift.report"):
        d = spec["drift"]
        current = frame[features].assign(**{PREDICTION: score})
        if len(current) > d["max_rows"]:
            current = current.sample(n=d["max_rows"], random_state=d["seed"])
        if len(reference) > d["max_rows"]:
            reference = reference.sample(n=d["max_rows"], random_state=d["seed"])
        items: list[Any] = [DataDriftPreset(columns=features, drift_share=d["drift_share"])]
        numeric = list(spec["numeric"])
        if PREDICTION in reference.columns:
            items.append(ValueDrift(column=PREDICTION))
            numeric.append(PREDICTION)
        definition = DataDefinition(numerical_columns=numeric, categorical_columns=list(spec["categorical"]))
        snapshot = Report(items, include_tests=True).run(
            current_data=Dataset.from_pandas(current, data_definition=definition),
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
        )
        report_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(report_path))
        payload = json.loads(snapshot.json())
    drift_scores: dict[str, float] = {}
    for metric in payload.get("metrics", []):
        config = metric.get("config", {})
        if str(config.get("type", "")).endswith(":ValueDrift") and isinstance(
            metric.get("value"), int | float
        ):
            drift_scores[str(config["column"])] = float(metric["value"])
    info["drift_columns"] = len(drift_scores)
    info["drift_report_bytes"] = report_path.stat().st_size

    metrics: dict[str, float] = {
        "rows": float(len(frame)),
        "contract_success_pct": 100.0
        * sum(r.success for r in outcome.results)
        / max(len(outcome.results), 1),
        "quarantined": 0.0,
        "prediction_mean": float(score.mean()),
    } | {f"drift_score.{c}": v for c, v in drift_scores.items()}

    if extras:
        # 8. label rows into SQLite
        with clock("labels"):
            labels = frame[target].astype(str).to_numpy()
            received = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
            with db:
                db.executemany(
                    "INSERT INTO labels VALUES (?, ?, ?, ?, ?)",
                    zip(
                        [batch_id] * len(frame),
                        row_key.tolist(),
                        labels.tolist(),
                        [received] * len(frame),
                        ["batch"] * len(frame),
                        strict=True,
                    ),
                )
        # 9. realized metrics
        with clock("realized_metrics"):
            truth = labels == spec["positive_label"]
            predicted = label == spec["positive_label"]
            metrics |= {
                "champion.auc": float(roc_auc_score(truth, score)),
                "champion.accuracy": float(accuracy_score(truth, predicted)),
                "champion.f1": float(f1_score(truth, predicted, zero_division=0)),
                "labeled_rows": float(len(labels)),
            }
        # 10. attribution: SHAP importance on a sample vs the champion's training table
        with clock("attribution"):
            a = spec["attribution"]
            picked = X.sample(n=min(a["rows"], len(X)), random_state=a["seed"])
            transformed = pipeline[:-1].transform(picked)
            names = list(pipeline[:-1].get_feature_names_out())
            values = np.asarray(shap.TreeExplainer(pipeline[-1])(transformed).values)
            if values.ndim == 3:
                values = np.abs(values).mean(axis=2)
            magnitude = np.abs(values).mean(axis=0)

            def original(name: str) -> str:
                bare = name.split("__", 1)[-1]
                return next((c for c in spec["categorical"] if bare.startswith(c + "_")), bare)

            importance = pd.Series(magnitude, index=[original(n) for n in names]).groupby(level=0).sum()
            table_file = mlflow.artifacts.download_artifacts(
                run_id=champion.run_id,
                artifact_path="shap/importance.csv",
                dst_path=str(folder),
                tracking_uri=spec["tracking_uri"],
            )
            trained = pd.read_csv(table_file).set_index("feature")["mean_abs_shap"]
            common = trained.index.intersection(importance.index)
            rank_corr = float(spearmanr(trained[common], importance[common]).statistic)
            metrics["attribution_rank_corr"] = rank_corr
        info["auc"] = metrics["champion.auc"]
        info["attribution_rank_corr"] = rank_corr
    db.close()

    # 7. MLflow metrics + the HTML as an artifact, in one long-lived run
    with clock("mlflow"):
        experiment = client.get_experiment_by_name(spec["experiment"])
        runs = client.search_runs(
            [experiment.experiment_id], filter_string="tags.`bench.kind` = 'bare-ingest'", max_results=1
        )
        run_id = (
            runs[0].info.run_id
            if runs
            else client.create_run(
                experiment.experiment_id, run_name="bare-ingest", tags={"bench.kind": "bare-ingest"}
            ).info.run_id
        )
        step = len(client.get_metric_history(run_id, "rows"))
        # As many metrics as the CLI logs per batch (47 on the demo project): pad with counters.
        for k in range(max(0, 47 - len(metrics))):
            metrics[f"bench.pad_{k:02d}"] = float(k)
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])
        client.log_artifact(run_id, str(report_path), artifact_path=f"batches/{step:04d}-{batch_id}")
    info["mlflow_metrics"] = len(metrics)
    info["batch_id"] = batch_id
    info["rows"] = len(frame)
    return {
        "stages_s": clock.wall,
        "stages_cpu_s": clock.cpu,
        "imports_s": imports.wall,
        "imports_cpu_s": imports.cpu,
        "info": info,
    }


def main() -> None:
    started, cpu0 = time.perf_counter(), time.process_time()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("batch", nargs="?", type=Path, help="batch file (CSV or Parquet)")
    parser.add_argument("--spec", type=Path, help="spec JSON written by --make-spec")
    parser.add_argument("--workdir", type=Path, default=Path("bare-ingest"), help="bare batch store + SQLite")
    parser.add_argument("--extras", action="store_true", help="also labels, realized metrics, attribution")
    parser.add_argument("--json-out", type=Path, help="write the timings here instead of stdout")
    parser.add_argument("--make-spec", action="store_true", help="resolve a project into a spec JSON")
    parser.add_argument("--config", type=Path, help="with --make-spec: the project's driftline.yaml")
    parser.add_argument("--out", type=Path, help="with --make-spec: where to write the spec")
    args = parser.parse_args()
    apply_env()
    if args.make_spec:
        if not args.config or not args.out:
            parser.error("--make-spec needs --config and --out")
        make_spec(args.config, args.out)
        return
    if not args.batch or not args.spec:
        parser.error("BATCH and --spec are needed")
    spec = json.loads(args.spec.read_text())
    args.workdir.mkdir(parents=True, exist_ok=True)
    result = run(args.batch.resolve(), spec, args.workdir.resolve(), extras=args.extras)
    result["in_process_wall_s"] = time.perf_counter() - started
    result["in_process_cpu_s"] = time.process_time() - cpu0
    text = json.dumps(result, indent=2)
    if args.json_out:
        args.json_out.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
