"""Benchmark: does a retrain cost O(window) or O(history)? One retrain after 10 batches vs after 100.

Usage (from the repository root; results and method in docs/benchmarks.md):

    uv run --frozen python benchmarks/bench_retrain_scaling.py --repeats 3 \
        --json benchmarks/results_retrain_scaling.json

One process, the real flows on Prefect's engine (ephemeral API) and MLflow on the project's SQLite
store. It creates a project from a 4,000-row history (12 numeric + 3 categorical features, an id,
a time column, a binary target that drifts slowly), then ingests 1,000-row batches through
``flows.batch_cycle.batch_cycle(..., allow_retrain=False)``. After batch 10 and after batch 100 it
runs the ``retrain`` flow ``--repeats`` times with ``window.adaptive`` on (the default: the recent
window and, beside it, the long window: a uniform sample of every batch so far, at most
``window.long_multiple`` times the recent window's rows, or ``window.long_min_rows``) and as many
times with it off (the recent ``window.batches`` only), in alternating order, and reports the
median wall seconds of each and the ratio after-100 / after-10. SHAP is bounded by
``model.shap_rows`` in both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

BATCH_ROWS = 1_000
HISTORY_ROWS = 4_000
CHECKPOINTS = (10, 100)


def make_frame(rows: int, *, start: int, seed: int) -> pd.DataFrame:
    """Rows `start`… of a stream whose target rule rotates slowly with time."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 12))
    t = (start + np.arange(rows)) / 100_000
    cats = rng.integers(0, 6, size=(rows, 3))
    logit = (1 - t) * x[:, 0] + t * x[:, 1] - 0.5 * x[:, 2] + 0.4 * (cats[:, 0] == 2)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(12)])
    for j in range(3):
        frame[f"c{j}"] = [f"k{v}" for v in cats[:, j]]
    frame["row_id"] = start + np.arange(rows)
    frame["ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta((start + np.arange(rows)) // 200, unit="h")
    frame["y"] = (logit + rng.logistic(size=rows) * 0.7 > 0).astype(int)
    return frame


def _set_adaptive(config_path: Path, adaptive: bool) -> None:
    raw = yaml.safe_load(config_path.read_text())
    raw.setdefault("window", {})["adaptive"] = adaptive
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))


def run(repeats: int, workdir: Path) -> dict[str, Any]:
    project = workdir / "project"
    # Env first (telemetry off, one OpenMP thread) and PREFECT_HOME before Prefect is imported.
    from driftline.core.env import apply_process_env

    apply_process_env({"PREFECT_HOME": str(project / ".driftline" / "prefect")})
    import logging

    logging.getLogger("prefect").setLevel(logging.WARNING)
    from driftline.jobs.project_init import init_project
    from flows.batch_cycle import batch_cycle
    from flows.retrain import retrain

    history = workdir / "history.parquet"
    make_frame(HISTORY_ROWS, start=0, seed=1).to_parquet(history, index=False)
    init = init_project(
        data=history,
        target="y",
        time_column="ts",
        id_column="row_id",
        task="binary",
        name="scaling",
        directory=project,
        parts=4,
    )
    config_path = Path(init["config"])
    results: dict[str, Any] = {"checkpoints": {}}
    ingested, statuses = 0, []
    for checkpoint in CHECKPOINTS:
        ingest_started = time.perf_counter()
        while ingested < checkpoint:
            path = workdir / f"batch-{ingested:03d}.parquet"
            start = HISTORY_ROWS + ingested * BATCH_ROWS
            make_frame(BATCH_ROWS, start=start, seed=100 + ingested).to_parquet(path, index=False)
            out = batch_cycle(path=str(path), config_path=str(config_path), allow_retrain=False)
            statuses.append(out.get("status"))
            ingested += 1
        print(f"{ingested} batches ingested ({time.perf_counter() - ingest_started:.0f} s)", flush=True)
        walls: dict[str, list[float]] = {"adaptive": [], "recent_only": []}
        rows: dict[str, Any] = {}
        for k in range(repeats):
            order = ("adaptive", "recent_only") if k % 2 == 0 else ("recent_only", "adaptive")
            for arm in order:
                _set_adaptive(config_path, arm == "adaptive")
                started = time.perf_counter()
                out = retrain(reason=f"bench: {arm} after {checkpoint}", config_path=str(config_path))
                walls[arm].append(time.perf_counter() - started)
                rows[arm] = {"status": out.get("status"), "promoted": out.get("promoted")}
                print(f"  after {checkpoint}: {arm} retrain {walls[arm][-1]:.1f} s", flush=True)
        _set_adaptive(config_path, True)
        results["checkpoints"][checkpoint] = {
            "median_s": {arm: statistics.median(v) for arm, v in walls.items()},
            "walls_s": walls,
            "last": rows,
        }
    results["accepted_batches"] = sum(s == "accepted" for s in statuses)
    results["batches"] = len(statuses)
    first, last = (results["checkpoints"][c]["median_s"] for c in CHECKPOINTS)
    results["ratio_100_over_10"] = {arm: last[arm] / first[arm] for arm in first}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write every figure and the medians here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        results = run(args.repeats, Path(tmp))
    print(json.dumps({k: v for k, v in results.items() if k != "checkpoints"}, indent=2))
    for checkpoint, figures in results["checkpoints"].items():
        print(f"after {checkpoint} batches: median {json.dumps(figures['median_s'])}")
    if args.json:
        machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}
        args.json.write_text(json.dumps({"machine": machine, **results}, indent=2))


if __name__ == "__main__":
    main()
