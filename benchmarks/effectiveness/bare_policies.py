"""What bare retrain scripts reach on the suite's streams: a quick bound for policy ideas.

No Driftline state, registry, contract or drift: the stream is cut into the replay's batches
(`driftline.services.replay.split_batches`), and each post-warmup batch is scored by a model
fitted with the project's default recipe (`models.train.fit_model`: HistGradientBoosting, the
same preprocessing) on the labeled batches before it (label lag 0). Policies:

- ``always``: refit after every batch on the last ``--window`` batches (the suite's `always`);
- ``expanding``: refit after every batch on every batch so far;
- ``every-K recent`` / ``every-K long``: refit every K-th batch (``--every``, default 2: the
  50% retrain budget of issue 9) on the recent window or on everything;
- ``every-K select``: at each refit, fit both windows without the newest batch, keep the one that
  scores better on it, and serve that window's refit including it (Driftline's adaptive window
  and refit, without a gate);
- ``every-K gated``: the same, but the refit replaces the serving model only when the selected
  candidate scores at least as well as it on the newest batch (the gate's `estimate` rule).

It takes a few minutes per stream (gas_sensor: 262 s with the test suite running beside it),
against about half an hour for the suite's driftline replays alone:

    DRIFTLINE_SHARED_DATA=../shared/data .venv/bin/python benchmarks/effectiveness/bare_policies.py \
        --streams gas_sensor outdoor --every 2 --json /tmp/bare.json

Measured on 2026-12-07 (docs/effectiveness.md, "Small batches"): on gas_sensor, every-2 select
reaches 97.4% of expanding and every-2 gated 95.0%; on outdoor 99.0% and 97.2%.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def _streams_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "effectiveness_streams", Path(__file__).with_name("streams.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Stream:
    """One stream's batches, feature spec and metric, with a cache of fitted models."""

    def __init__(self, spec: Any, *, window: int) -> None:
        from driftline.services.replay import split_batches
        from models.metrics import metric_fn
        from models.spec import higher_is_better, infer_features, primary_metric

        frame = spec.load()
        self.spec = spec
        self.batches = [
            b.frame
            for b in split_batches(frame, time_column=spec.time_column, freq=spec.freq, rows=spec.rows)
        ]
        self.features = infer_features(
            frame, target=spec.target, id_column=spec.id_column, time_column=spec.time_column
        )
        self.metric = primary_metric(spec.task)
        self.higher = higher_is_better(self.metric)
        self.window = window
        self._metric_fn = metric_fn
        self._models: dict[tuple[int, int], Any] = {}

    def model(self, lo: int, hi: int) -> Any:
        """The recipe fitted on batches [lo, hi)."""
        from models.train import fit_model

        key = (max(0, lo), hi)
        if key not in self._models:
            rows = pd.concat(self.batches[key[0] : hi], ignore_index=True)
            self._models[key] = fit_model(
                rows, target=self.spec.target, spec=self.features, task=self.spec.task
            )
        return self._models[key]

    def recent(self, t: int) -> Any:
        return self.model(t - self.window, t)

    def long(self, t: int) -> Any:
        return self.model(0, t)

    def score(self, model: Any, t: int) -> float:
        from models.train import predict

        batch = self.batches[t]
        fn = self._metric_fn(self.metric, task=self.spec.task, positive_label=model.positive_label)
        return float(fn(batch[self.spec.target].to_numpy(), predict(model, batch)))

    def better(self, a: float, b: float) -> bool:
        """a at least as good as b."""
        return a >= b if self.higher else a <= b


def every_batch(s: Stream, pick: Callable[[int], Any]) -> tuple[list[float], int]:
    scores = [s.score(pick(t), t) for t in range(s.spec.warmup, len(s.batches))]
    return scores, len(scores)


def every_k(s: Stream, k: int, how: str) -> tuple[list[float], int]:
    """Refit at the first post-warmup batch and then every k-th; `how`: recent, long, select, gated."""
    serving: Any = None
    scores, refits = [], 0
    for n, t in enumerate(range(s.spec.warmup, len(s.batches))):
        if n % k == 0:
            refits += 1
            if how in ("recent", "long"):
                serving = s.recent(t) if how == "recent" else s.long(t)
            else:  # candidates without the newest batch, judged on it; the winner's refit serves
                r, lg = s.score(s.recent(t - 1), t - 1), s.score(s.long(t - 1), t - 1)
                use_long = s.better(lg, r)
                refit = s.long(t) if use_long else s.recent(t)
                judged = lg if use_long else r
                if how == "select" or serving is None or s.better(judged, s.score(serving, t - 1)):
                    serving = refit
        scores.append(s.score(serving, t))
    return scores, refits


def run_stream(spec: Any, *, window: int, every: int) -> dict[str, Any]:
    started = time.perf_counter()
    s = Stream(spec, window=window)
    policies: dict[str, tuple[list[float], int]] = {
        "always": every_batch(s, s.recent),
        "expanding": every_batch(s, s.long),
    }
    for how in ("recent", "long", "select", "gated"):
        policies[f"every-{every} {how}"] = every_k(s, every, how)
    means = {name: float(np.nanmean(scores)) for name, (scores, _) in policies.items()}
    best = max(means["always"], means["expanding"]) if s.higher else min(means["always"], means["expanding"])
    return {
        "stream": spec.name,
        "metric": s.metric,
        "higher_is_better": s.higher,
        "batches": len(s.batches),
        "warmup": spec.warmup,
        "window": window,
        "policies": {
            name: {
                "mean": means[name],
                "refits": refits,
                "of_best": means[name] / best if s.higher else best / means[name],
                "per_batch": [round(v, 4) for v in scores],
            }
            for name, (scores, refits) in policies.items()
        },
        "seconds": time.perf_counter() - started,
    }


def print_table(result: dict[str, Any]) -> None:
    head = f"{result['stream']} ({result['metric']}, {result['batches']} batches, {result['seconds']:.0f} s)"
    print(f"\n{head}")
    for name, row in result["policies"].items():
        share = f"{100 * row['of_best']:6.1f}% of best"
        print(f"  {name:<20} {row['mean']:8.4f}  refits {row['refits']:3d}  {share}")


def main(argv: Sequence[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from driftline.core.config import WindowConfig

    module = _streams_module()
    known = {s.name: s for s in module.STREAMS}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", nargs="*", default=list(known), choices=list(known))
    parser.add_argument("--every", type=int, default=2, help="refit every K-th batch (default 2)")
    parser.add_argument("--window", type=int, default=WindowConfig().batches, help="recent window, batches")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be at least 1")
    results = []
    for name in args.streams:
        results.append(run_stream(known[name], window=args.window, every=args.every))
        print_table(results[-1])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
