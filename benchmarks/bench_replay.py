"""Replay throughput: `driftline replay --compare` on a synthetic drifting multiclass stream, beside
a bare script that fits and scores HistGradientBoosting on the same batches under the same four
policies.

Usage (from the repository root; results in docs/benchmarks.md):

    uv run --frozen python benchmarks/bench_replay.py --repeats 3 --json benchmarks/results_replay.json

The stream has the shape of the one in issue 10: 24,150 rows, 33 columns (28 numeric and 4
categorical features, a daily time column), 6 classes whose boundaries rotate slowly and jump
twice; cut into 25 batches of 1,000 rows (2 warmup). Each repeat runs, alternating, the real
command as a subprocess (`--compare`: driftline, never, always, expanding in 2 worker processes,
`--dir` a fresh folder) and the bare script (`benchmarks/bare_replay.py`, one process, the same
four policies with the same windows: 6 batches recent, every batch for expanding; no contract,
drift, registry or SHAP). It prints wall seconds, batches per minute and the ratio, and the
per-policy stage seconds the replay JSON reports.

``--same-work`` gives the bare script the replay's per-batch work too (issue 10 asks for the ratio
against "the bare library calls for the same work"): each batch validated by GE against the first
replay's initial suite and an Evidently drift report against the model's training rows. Both sides
also report CPU seconds (the command's processes that were waited for: the workers, not the shared
local Prefect API, which the command leaves running).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
ROWS, BATCH_ROWS, CLASSES, NUMERIC, CATEGORICAL = 24_150, 1_000, 6, 28, 4


def make_stream(path: Path, *, seed: int = 7) -> Path:
    """A drifting 6-class stream: class scores are a linear map of the features that rotates a
    little every day and jumps at 40% and 75% of the stream; two features shift in level."""
    rng = np.random.default_rng(seed)
    t = np.arange(ROWS) / ROWS
    x = rng.normal(size=(ROWS, NUMERIC))
    x[:, 0] += 2.0 * (t > 0.4)  # a level shift (data drift)
    x[:, 1] *= 1.0 + t  # a spread that grows
    cats = rng.integers(0, 5, size=(ROWS, CATEGORICAL))
    w0, w1 = rng.normal(size=(NUMERIC, CLASSES)), rng.normal(size=(NUMERIC, CLASSES))
    jump = np.where(t > 0.75, 1.0, 0.0)[:, None, None]
    weights = (1 - t)[:, None, None] * w0 + t[:, None, None] * w1 + jump * 0.8 * w0[::-1]
    scores = np.einsum("rf,rfc->rc", x, weights) + 0.6 * np.eye(CLASSES)[cats[:, 0] % CLASSES]
    scores += rng.gumbel(size=scores.shape) * 1.5
    y = scores.argmax(axis=1)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(NUMERIC)])
    for j in range(CATEGORICAL):
        frame[f"c{j}"] = [f"k{v}" for v in cats[:, j]]
    frame["ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta((t * 400).astype(int), unit="D")
    frame["row_id"] = np.arange(ROWS)
    frame["y"] = [f"class_{v}" for v in y]
    frame.to_csv(path, index=False)
    return path


def run_replay(data: Path, folder: Path) -> dict[str, Any]:
    out = folder / "replay.json"
    argv = [
        str(Path(sys.executable).with_name("driftline")),
        "replay",
        str(data),
        "--target",
        "y",
        "--time-column",
        "ts",
        "--rows",
        str(BATCH_ROWS),
        "--id-column",
        "row_id",
        "--compare",
        "--dir",
        str(folder / "runs"),
        "--json",
        str(out),
    ]
    started, cpu = time.monotonic(), _children_cpu()
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, env={**os.environ})
    wall, cpu = time.monotonic() - started, _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"replay failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    report = json.loads(out.read_text())
    batches = sum(s["batches"] for s in report["policies"].values())
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "batches": batches,
        "batches_per_min": 60 * batches / wall,
        "policies": {
            p: {"metric": s["metric"], "mean": s.get("mean_score"), "retrains": s.get("retrains")}
            for p, s in report["policies"].items()
        },
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_bare(data: Path, suite: Path | None) -> dict[str, Any]:
    argv = [sys.executable, str(ROOT / "benchmarks" / "bare_replay.py"), str(data), "--rows", str(BATCH_ROWS)]
    argv += ["--suite", str(suite)] if suite else []
    started, cpu = time.monotonic(), _children_cpu()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return {
        "wall_s": time.monotonic() - started,
        "cpu_s": _children_cpu() - cpu,
        "policies": json.loads(done.stdout),
    }


def initial_suite(folder: Path, keep: Path) -> Path:
    """The `never` replay's contract: no promotion refreshes it, so it is the one bootstrapped from
    the warmup."""
    suites = sorted((folder / "runs" / "never" / "data_contracts" / "suites").glob("*.json"))
    if not suites:
        raise SystemExit(f"no suite under {folder / 'runs' / 'never' / 'data_contracts' / 'suites'}")
    keep.write_text(suites[0].read_text())
    return keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write every record and the medians here")
    parser.add_argument("--same-work", action="store_true", help="bare side validates and drift-checks too")
    args = parser.parse_args()
    suite: Path | None = None
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        data = make_stream(Path(tmp) / "stream.csv")
        records: list[dict[str, Any]] = []
        for k in range(args.repeats):
            order = ("replay", "bare") if k % 2 == 0 else ("bare", "replay")
            rec: dict[str, Any] = {}
            for side in order:
                folder = Path(tmp) / f"r{k}-{side}"
                folder.mkdir()
                if side == "replay":
                    rec[side] = run_replay(data, folder)
                    if args.same_work and suite is None:
                        suite = initial_suite(folder, Path(tmp) / "suite.json")
                else:
                    rec[side] = run_bare(data, suite if args.same_work else None)
                print(f"repeat {k + 1}: {side} {rec[side]['wall_s']:.1f} s", flush=True)
            records.append(rec)
    med = {
        "replay_wall_s": statistics.median(r["replay"]["wall_s"] for r in records),
        "bare_wall_s": statistics.median(r["bare"]["wall_s"] for r in records),
        "replay_batches_per_min": statistics.median(r["replay"]["batches_per_min"] for r in records),
    }
    med["ratio"] = med["replay_wall_s"] / med["bare_wall_s"]
    med["replay_cpu_s"] = statistics.median(r["replay"]["cpu_s"] for r in records)
    med["bare_cpu_s"] = statistics.median(r["bare"]["cpu_s"] for r in records)
    med["cpu_ratio"] = med["replay_cpu_s"] / med["bare_cpu_s"]
    print(json.dumps(med, indent=2))
    print(json.dumps(records[-1], indent=2))
    if args.json:
        machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}
        record = {"machine": machine, "same_work": args.same_work, "medians": med, "records": records}
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
