"""Group disparity of a model's predictions: its definition, and a weighted evaluator for the gate.

One definition serves the per-batch report (``monitoring.fairness``, per-group values from
fairlearn's ``MetricFrame``) and the gate (a seeded paired bootstrap needs the disparity of many
resamples at once, as row-count weights, which per-resample ``MetricFrame`` calls cannot afford):

- ``equalized_odds`` (binary): the larger of the TPR gap and the FPR gap between groups, as
  fairlearn's ``equalized_odds_difference``. The default: it compares error rates given the truth,
  so a model is not called unfair for tracking base rates that really differ between groups.
- ``demographic_parity`` (binary): the selection-rate gap (share predicted positive).
- ``metric_gap``: the task metric of the best group minus the worst; for rmse/mae divided by the
  metric on all rows, so it is scale-free. Multiclass and regression always use it: they have no
  single selection rate or error rate.

A gap is max − min over the groups whose value rests on at least ``min_rows`` rows of its
denominator: rows for the selection rate and the task metric, actual positives for the TPR,
actual negatives for the FPR. A row minimum alone does not do: a model with the same TPR (0.6)
and FPR (0.1) in two groups of 100 rows at a 10% base rate showed an equalized-odds difference
above 0.2 in 37% of simulated batches (TPRs of ~10 positives). With the minimum on denominators
at 50, no simulated case (100-1000 rows per group, base rate 0.1-0.3) exceeded 0.6%, and a real
TPR gap (0.8 vs 0.4) was still seen in 99.7% of batches with ~100 positives per group. With fewer
than two such groups, or no defined values, the gap is NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.metrics import BatchMetric, Evaluator, metric_batch
from models.spec import check_task, label_text
from models.train import Predictions

MEASURES: tuple[str, ...] = ("equalized_odds", "demographic_parity", "metric_gap")
RELATIVE_GAP_METRICS: tuple[str, ...] = ("rmse", "mae")
"""Scale-dependent metrics: their gap is divided by the metric on all rows."""
COMPONENTS: dict[str, tuple[str, ...]] = {
    "equalized_odds": ("tpr", "fpr"),
    "demographic_parity": ("selection_rate",),
    "metric_gap": ("metric",),
}
"""Per-group values each measure compares."""
DENOMINATORS: dict[str, str] = {
    "selection_rate": "rows",
    "tpr": "positives",
    "fpr": "negatives",
    "metric": "rows",
}
"""What each per-group value is a share of: its support, which must reach ``min_rows``."""


def effective_measure(measure: str, task: str) -> str:
    """The measure used for ``task``: as asked for binary, ``metric_gap`` otherwise.

    Raises:
        ValueError: an unknown measure or task.
    """
    if measure not in MEASURES:
        raise ValueError(f"fairness measure {measure!r} is unknown; use one of {MEASURES}")
    return measure if check_task(task) == "binary" else "metric_gap"


def measure_label(measure: str, metric: str) -> str:
    """Words for messages: ``equalized-odds difference``, ``relative rmse gap``."""
    if measure == "metric_gap":
        return f"{'relative ' if metric in RELATIVE_GAP_METRICS else ''}{metric} gap"
    return measure.replace("_", "-") + " difference"


def spread(values: np.ndarray) -> np.ndarray:
    """Max − min over the last axis (groups) of the finite values; NaN with fewer than two."""
    finite = np.isfinite(values)
    high = np.where(finite, values, -np.inf).max(axis=-1)
    low = np.where(finite, values, np.inf).min(axis=-1)
    with np.errstate(invalid="ignore"):
        return np.where(finite.sum(axis=-1) >= 2, high - low, np.nan)


def disparity(
    measure: str,
    components: Mapping[str, np.ndarray],
    *,
    metric: str,
    overall: np.ndarray | None = None,
    support: Mapping[str, np.ndarray] | None = None,
    min_rows: int = 1,
) -> np.ndarray:
    """The disparity from per-group values ``components[name]`` of shape (..., groups).

    ``support[name]`` (shape (groups,), counts of ``DENOMINATORS[name]``) leaves out the groups
    whose value rests on fewer than ``min_rows``. ``overall`` (the metric on all rows) is needed
    for a relative gap (rmse/mae); equalized odds takes the larger of the defined TPR/FPR gaps.
    """
    gaps = []
    for name in COMPONENTS[measure]:
        values = np.asarray(components[name], dtype=float)
        if support is not None:
            values = np.where(np.asarray(support[name]) >= min_rows, values, np.nan)
        gaps.append(spread(values))
    gap = gaps[0] if len(gaps) == 1 else np.fmax(*gaps)
    if measure != "metric_gap" or metric not in RELATIVE_GAP_METRICS:
        return gap
    if overall is None:
        raise ValueError(f"a relative {metric} gap needs the metric on all rows")
    ref = np.abs(np.asarray(overall, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ref > 0, gap / np.where(ref > 0, ref, 1.0), np.nan)


@dataclass(frozen=True)
class GroupSplit:
    """The groups of one sensitive column: those compared (``judged``) and those too small."""

    judged: tuple[str, ...]
    index: tuple[np.ndarray, ...]  # row positions of each judged group
    small: tuple[tuple[str, int], ...]  # (group, rows) left out of the comparison
    min_rows: int = 1


def split_groups(values: Any, *, min_rows: int) -> GroupSplit:
    """Groups of a sensitive column as text (missing → ``__missing__``), split by size."""
    groups = np.asarray(label_text(values), dtype=object)
    names, codes, counts = np.unique(groups, return_inverse=True, return_counts=True)
    judged, index, small = [], [], []
    for code, (name, count) in enumerate(zip(names, counts, strict=True)):
        if count >= min_rows:
            judged.append(str(name))
            index.append(np.flatnonzero(codes == code))
        else:
            small.append((str(name), int(count)))
    return GroupSplit(tuple(judged), tuple(index), tuple(small), min_rows)


def _subset(p: Predictions, rows: np.ndarray) -> Predictions:
    return Predictions(p.label[rows], p.score[rows], None if p.proba is None else p.proba[rows])


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def disparity_batch(
    split: GroupSplit, *, measure: str, task: str, metric: str, positive_label: str | None
) -> BatchMetric:
    """The disparity as a weighted metric ``f(y_true, pred)(W)`` for ``models.bootstrap``.

    ``y_true`` must be a ``truth_array``; ``metric`` is the task metric (for ``metric_gap``).
    Raises ValueError for an unknown measure, or a binary rate measure without ``positive_label``.
    """
    measure = effective_measure(measure, task)
    if measure == "metric_gap":
        return _metric_gap(split, task=task, metric=metric, positive_label=positive_label)
    if positive_label is None:
        raise ValueError(f"binary fairness measure {measure!r} needs positive_label")
    # Rows of the judged groups, sorted by group: one reduceat per rate gives every group at once.
    order = np.concatenate(split.index) if split.index else np.array([], dtype=int)
    starts = np.cumsum([0] + [len(i) for i in split.index[:-1]])

    def bind(y: np.ndarray, p: Predictions) -> Evaluator:
        truth = np.asarray(y, dtype=object)[order] == positive_label
        pred = np.asarray(p.label, dtype=object)[order] == positive_label
        rates = {
            "selection_rate": (pred, np.ones_like(pred)),
            "tpr": (truth & pred, truth),
            "fpr": (~truth & pred, ~truth),
        }
        needed = {c: (rates[c][0].astype(float), rates[c][1].astype(float)) for c in COMPONENTS[measure]}
        # Support is fixed by the full rows, so a group's rate is in every resample or in none.
        support = {
            c: np.add.reduceat(den, starts) if len(order) else np.zeros(0) for c, (_, den) in needed.items()
        }

        def evaluate(W: np.ndarray) -> np.ndarray:
            if not len(order):
                return np.full(len(W), np.nan)
            Wo = W[:, order]
            per_group = {
                c: _ratio(
                    np.add.reduceat(Wo * num, starts, axis=1), np.add.reduceat(Wo * den, starts, axis=1)
                )
                for c, (num, den) in needed.items()
            }
            return disparity(measure, per_group, metric=metric, support=support, min_rows=split.min_rows)

        return evaluate

    return bind


def _metric_gap(split: GroupSplit, *, task: str, metric: str, positive_label: str | None) -> BatchMetric:
    base = metric_batch(metric, task=task, positive_label=positive_label)

    def bind(y: np.ndarray, p: Predictions) -> Evaluator:
        parts = [(rows, base(y[rows], _subset(p, rows))) for rows in split.index]
        whole = base(y, p) if metric in RELATIVE_GAP_METRICS else None

        def evaluate(W: np.ndarray) -> np.ndarray:
            if not parts:
                return np.full(len(W), np.nan)
            values = np.column_stack([f(W[:, rows]) for rows, f in parts])
            return disparity(
                "metric_gap", {"metric": values}, metric=metric, overall=None if whole is None else whole(W)
            )

        return evaluate

    return bind
