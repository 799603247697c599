"""The bare side of bench_replay.py: HistGradientBoosting fitted and scored on the same batches
under four policies, in one process, with nothing else (no contract, drift, registry or SHAP).

    python benchmarks/bare_replay.py STREAM.csv --rows 1000

Policies: never (the warmup's model throughout), always (refit after every batch on the last 6
batches), expanding (refit on every batch so far), every_other (refit on the last 6 batches after
every second batch: the retrain budget driftline's policy aims at). Prints per policy the mean
macro-F1 over the post-warmup batches, the refits and the seconds, as JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score

WARMUP, WINDOW = 2, 6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    frame = pd.read_csv(args.path).sort_values("ts", kind="mergesort").reset_index(drop=True)
    y = frame.pop("y")
    X = frame.drop(columns=["ts", "row_id"])
    for col in X.columns:
        if X[col].dtype == object:
            X[col] = X[col].astype("category")
    cuts = list(range(0, len(X), args.rows))
    batches = [(X.iloc[c : c + args.rows], y.iloc[c : c + args.rows]) for c in cuts]

    def fit(parts: list[tuple[pd.DataFrame, pd.Series]]) -> HistGradientBoostingClassifier:
        model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
        return model.fit(pd.concat([p[0] for p in parts]), pd.concat([p[1] for p in parts]))

    out = {}
    for policy in ("never", "always", "expanding", "every_other"):
        started = time.process_time()
        model, scores, refits = fit(batches[:WARMUP]), [], 0
        for i in range(WARMUP, len(batches)):
            Xb, yb = batches[i]
            scores.append(f1_score(yb, model.predict(Xb), average="macro"))
            if policy == "never" or (policy == "every_other" and (i - WARMUP) % 2):
                continue
            seen = batches[: i + 1] if policy == "expanding" else batches[max(0, i + 1 - WINDOW) : i + 1]
            model, refits = fit(seen), refits + 1
        out[policy] = {
            "mean_macro_f1": sum(scores) / len(scores),
            "refits": refits,
            "cpu_s": time.process_time() - started,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
