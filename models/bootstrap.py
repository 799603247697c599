"""Seeded paired bootstrap: every model is scored on the same resamples, as row-count weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.metrics import BatchMetric
from models.train import Predictions

CELLS_PER_CHUNK = 2_000_000
"""Bounds memory: resamples are drawn in chunks of about this many (resample x row) weights."""


def paired_bootstrap(
    y_true: np.ndarray,
    predictions: Sequence[Predictions],
    metric: BatchMetric,
    *,
    n_resamples: int,
    seed: int,
) -> np.ndarray:
    """Metric of each prediction set on shared resamples; shape (len(predictions), n_resamples).

    A resample is a vector of how often each row was drawn, so metrics stay vectorised and the
    pairing is exact. Values may be NaN where a metric is undefined (e.g. one-class AUC).
    """
    n = len(y_true)
    if n == 0:
        raise ValueError("cannot bootstrap zero rows")
    rng = np.random.default_rng(seed)
    chunk = max(1, CELLS_PER_CHUNK // n)
    bound = [metric(y_true, p) for p in predictions]
    out = np.empty((len(bound), n_resamples))
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        draws = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        weights = np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(float)
        for i, evaluate in enumerate(bound):
            out[i, start : start + size] = evaluate(weights)
    return out


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """Two-sided percentile interval of the finite values; None if there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    tail = (1 - confidence) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)
