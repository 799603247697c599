"""Quarantine share of the default contract alone, per stream (seconds, not the hour a replay takes).

The suite is bootstrapped from each stream's warmup batches with default settings; every later
batch is validated against it, and the batches that would be quarantined are listed with the
blocking rules and columns.

    .venv/bin/python benchmarks/effectiveness/contract_check.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    sys.path.insert(0, str(HERE.parents[1]))
    from driftline.core.env import apply_process_env

    apply_process_env()
    import pandas as pd

    from data_contracts import bootstrap_suite, validate_frame
    from driftline.services.replay import split_batches

    spec = importlib.util.spec_from_file_location("effectiveness_streams", HERE / "streams.py")
    assert spec is not None and spec.loader is not None
    streams = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(streams)
    for s in streams.STREAMS:
        batches = split_batches(s.load(), time_column=s.time_column, freq=s.freq, rows=s.rows)
        reference = pd.concat([b.frame for b in batches[: s.warmup]])
        suite = bootstrap_suite(
            reference, name=s.name, target=s.target, id_column=s.id_column, time_column=s.time_column
        )
        blocked = []
        for b in batches[s.warmup :]:
            result = validate_frame(b.frame, suite, source=f"batch {b.index}")
            if not result.success:
                blocked.append((b.index, sorted({(f.rule, f.column) for f in result.blocking})))
        print(f"{s.name:<16} quarantined {len(blocked)}/{len(batches) - s.warmup} {blocked}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
