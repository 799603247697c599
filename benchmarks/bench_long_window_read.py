"""Benchmark: does reading a retrain's windows grow with history? The recent and the adaptive long
window read after 10, 100 and 300 accepted batches.

Usage (from the repository root; results in docs/benchmarks.md, "Retrain cost against history"):

    uv run --frozen python benchmarks/bench_long_window_read.py

One process, no Prefect or MLflow: a project's state store and kept raw files, filled with
1,000-row labeled batches (5 numeric + 2 categorical features, an id, a time column), then
`training.load_window` (the recent window) and `training.long_window` (the long one) timed 5 times
at each checkpoint. Prints the median and how many rows and batches the long window read.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = 1_000
CHECKPOINTS = (10, 100, 300)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from driftline.core.config import parse_config
    from driftline.core.env import apply_process_env
    from driftline.services import training
    from driftline.services.bootstrap import init_contract
    from driftline.services.project import load_facts
    from driftline.services.workspace import Workspace
    from tests.streams import make_batch, record_labeled_batches

    apply_process_env()
    with tempfile.TemporaryDirectory(prefix="bench-long-window-") as tmp:
        base = Path(tmp)
        settings = {"project": "read", "data": {"target": "y", "id_column": "event_id", "time_column": "ts"}}
        cfg = parse_config(settings, base_dir=base)
        make_batch(ROWS, seed=0).to_parquet(base / "history.parquet", index=False)
        init_contract(cfg, base / "history.parquet")
        ws = Workspace(cfg)
        facts = load_facts(ws)
        done = 0
        for checkpoint in CHECKPOINTS:
            record_labeled_batches(ws, range(done, checkpoint), rows=ROWS)
            done = checkpoint
            walls, long = [], None
            for _ in range(5):
                started = time.perf_counter()
                short = training.load_window(ws, training.select(ws), facts)
                long = training.long_window(ws, facts, short)
                walls.append(time.perf_counter() - started)
            rows = len(long.train) if long else 0
            read = len(long.train_batches) if long else 0
            print(
                f"after {checkpoint} batches: both windows read in {statistics.median(walls):.3f} s "
                f"(median of 5); long window {rows:,} rows from {read} batches",
                flush=True,
            )


if __name__ == "__main__":
    main()
