"""The bare side of bench_replay.py: HistGradientBoosting fitted and scored on the same batches
under four policies, in one process, with nothing else (no contract, drift, registry or SHAP).

    python benchmarks/bare_replay.py STREAM.csv --rows 1000 [--suite SUITE.json]

With ``--suite`` (a replay project's contract) each scored batch also gets the per-batch work the
replay does, as bare library calls: Great Expectations validates the batch against that suite
(ephemeral context, ``result_format="SUMMARY"``), and Evidently's ``DataDriftPreset`` plus a
``ValueDrift`` of the predicted class probability compares it with the serving model's training
rows (at most 20,000 of each side, seeded; no HTML, as replays default to).

Policies: never (the warmup's model throughout), always (refit after every batch on the last 6
batches), expanding (refit on every batch so far), every_other (refit on the last 6 batches after
every second batch: the retrain budget driftline's policy aims at). Prints per policy the mean
macro-F1 over the post-warmup batches, the refits and the seconds, as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score

WARMUP, WINDOW = 2, 6
MAX_ROWS, SEED = 20_000, 0


def validator(suite_path: Path) -> Callable[[pd.DataFrame], bool]:
    """GE 1.x: one ephemeral context and the suite, reused for every batch (as the replay does)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (
        context.data_sources.add_pandas(name="bare")
        .add_dataframe_asset(name="batch")
        .add_batch_definition_whole_dataframe(name="whole")
    )
    raw = json.loads(suite_path.read_text())
    optional = (raw.get("meta") or {}).get("driftline", {}).get("optional_columns") or []
    for entry in raw["expectations"]:
        if entry["type"] == "expect_table_columns_to_match_set":
            entry["kwargs"]["column_set"] += [c for c in optional if c not in entry["kwargs"]["column_set"]]
    suite = gx.ExpectationSuite(**raw)

    def validate(frame: pd.DataFrame) -> bool:
        result = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite, result_format="SUMMARY"
        )
        return bool(result.success)

    return validate


def scored_reference(model: Any, parts: list[tuple[pd.DataFrame, pd.Series]]) -> pd.DataFrame:
    """The model's training rows with its score, sampled once per model (the replay keeps it with
    the registered version)."""
    rows = pd.concat([p[0] for p in parts])
    rows = rows.sample(n=MAX_ROWS, random_state=SEED) if len(rows) > MAX_ROWS else rows
    return rows.assign(score=model.predict_proba(rows).max(axis=1))


def drift_report(
    reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    sides = [
        f.sample(n=MAX_ROWS, random_state=SEED) if len(f) > MAX_ROWS else f for f in (reference, current)
    ]
    definition = DataDefinition(numerical_columns=[*numeric, "score"], categorical_columns=categorical)
    features = numeric + categorical
    report = Report([DataDriftPreset(columns=features, drift_share=0.5), ValueDrift(column="score")])
    return report.run(
        current_data=Dataset.from_pandas(sides[1], data_definition=definition),
        reference_data=Dataset.from_pandas(sides[0], data_definition=definition),
    ).json()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--suite", type=Path, help="Also validate and drift-check every batch.")
    args = parser.parse_args()
    raw = pd.read_csv(args.path).sort_values("ts", kind="mergesort").reset_index(drop=True)
    frame = raw.copy()
    y = frame.pop("y")
    X = frame.drop(columns=["ts", "row_id"])
    for col in X.columns:
        if X[col].dtype == object:
            X[col] = X[col].astype("category")
    cuts = list(range(0, len(X), args.rows))
    batches = [(X.iloc[c : c + args.rows], y.iloc[c : c + args.rows]) for c in cuts]
    validate = validator(args.suite) if args.suite else None
    numeric = [c for c in X.columns if X[c].dtype != "category"]
    categorical = [c for c in X.columns if X[c].dtype == "category"]

    def fit(parts: list[tuple[pd.DataFrame, pd.Series]]) -> HistGradientBoostingClassifier:
        model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
        return model.fit(pd.concat([p[0] for p in parts]), pd.concat([p[1] for p in parts]))

    out = {}
    for policy in ("never", "always", "expanding", "every_other"):
        started = time.process_time()
        trained_on = batches[:WARMUP]
        model, scores, refits = fit(trained_on), [], 0
        reference = scored_reference(model, trained_on) if validate else None
        for i in range(WARMUP, len(batches)):
            Xb, yb = batches[i]
            if validate is not None:
                validate(raw.iloc[cuts[i] : cuts[i] + args.rows])
            scores.append(f1_score(yb, model.predict(Xb), average="macro"))
            if reference is not None:
                current = Xb.assign(score=model.predict_proba(Xb).max(axis=1))
                drift_report(reference, current, numeric, categorical)
            if policy == "never" or (policy == "every_other" and (i - WARMUP) % 2):
                continue
            trained_on = (
                batches[: i + 1] if policy == "expanding" else batches[max(0, i + 1 - WINDOW) : i + 1]
            )
            model, refits = fit(trained_on), refits + 1
            reference = scored_reference(model, trained_on) if validate else None
        out[policy] = {
            "mean_macro_f1": sum(scores) / len(scores),
            "refits": refits,
            "cpu_s": time.process_time() - started,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
