"""Retrain policy: a decision with readable reasons, from recent batch signals.

Rules (all thresholds are arguments of ``decide_retrain``):

* **no champion** – retrain as soon as enough labeled rows exist (no trigger name; no cooldown).
* **drift** – at least ``drift_k`` of the last ``drift_m`` batches had dataset drift
  (fewer batches than ``drift_m`` so far: the window is what exists).
* **performance** – the newest measured batch's realized metric is worse than the champion's holdout
  metric by more than ``performance_tolerance``. Small batches are pooled: the newest measured
  batches back until they hold ``min_labeled_rows`` labeled rows, their metrics weighted by rows.
  The degradation is *relative*:
  ``(champion - realized) / |champion|`` when higher is better,
  ``(realized - champion) / |champion|`` when lower is better (e.g. RMSE). A champion metric of
  exactly 0 makes the degradation the absolute difference. With ``use_estimate`` a batch whose
  labels have not arrived is judged by its *estimated* metric (CBPE, `monitoring.estimate`) instead:
  the newest batch with either value counts, its realized value first; reasons say "estimated".
* gates, applied only when a rule fired: ``cooldown_batches`` since the last retrain and
  ``min_labeled_rows`` labeled since then, but never more than ``cooldown_batches`` typical batches
  hold (the median labeled rows per batch): on small batches the cooldown sets the pace. A blocked
  decision keeps its ``triggers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DRIFT = "drift"
PERFORMANCE = "performance"


@dataclass(frozen=True)
class BatchSignal:
    """What one processed batch says about the model's health."""

    batch_id: str
    drift_detected: bool | None
    drift_share: float | None
    realized_metric: float | None
    labeled_rows: int
    estimated_metric: float | None = None  # label-free estimate (classification), see estimate.py

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain dict."""
        return {
            "batch_id": self.batch_id,
            "drift_detected": self.drift_detected,
            "drift_share": self.drift_share,
            "realized_metric": self.realized_metric,
            "labeled_rows": self.labeled_rows,
            "estimated_metric": self.estimated_metric,
        }


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, why (sentences with numbers), and which rules fired."""

    retrain: bool
    reasons: tuple[str, ...]
    triggers: tuple[str, ...]  # subset of {"drift", "performance", "manual", "schedule"}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain dict."""
        return {"retrain": self.retrain, "reasons": list(self.reasons), "triggers": list(self.triggers)}


def decide_retrain(
    history: Sequence[BatchSignal],
    *,
    champion_metric: float | None,
    higher_is_better: bool,
    batches_since_retrain: int | None,
    labeled_rows_since_retrain: int,
    drift_k: int = 2,
    drift_m: int = 3,
    performance_tolerance: float = 0.02,
    cooldown_batches: int = 2,
    min_labeled_rows: int = 500,
    has_champion: bool = True,
    metric_name: str = "metric",
    use_estimate: bool = False,
) -> RetrainDecision:
    """Apply the retrain policy (see module docstring) to ``history`` (oldest → newest).

    Args:
        history: signals of processed batches; the last one is the batch just processed.
        champion_metric: the champion's holdout metric; None skips the performance rule.
        higher_is_better: metric direction (True for AUC/accuracy, False for RMSE/MAE).
        batches_since_retrain: batches processed since the last retrain; None if never.
        labeled_rows_since_retrain: labeled rows that arrived since the last retrain.
        drift_k, drift_m: drift fires when >= k of the last m batches drifted (2 of 3).
        performance_tolerance: allowed relative degradation (0.02 = 2%).
        cooldown_batches: no retrain until this many batches since the last one (2).
        min_labeled_rows: no retrain with fewer new labeled rows than this (500).
        has_champion: False when no model serves yet.
        metric_name: how reasons name the metric (e.g. "AUC", "RMSE").
        use_estimate: a batch without a realized metric is judged by its estimated one.

    Raises:
        ValueError: a parameter outside its range, naming it.
    """
    _check(drift_k, drift_m, performance_tolerance, cooldown_batches, min_labeled_rows)
    if not has_champion:
        return _without_champion(labeled_rows_since_retrain, min_labeled_rows)

    rules = [
        (DRIFT, *_drift_rule(history, k=drift_k, m=drift_m)),
        (
            PERFORMANCE,
            *_performance_rule(
                # Only batches scored since the last retrain judge the current champion.
                history[-batches_since_retrain:] if batches_since_retrain else history,
                champion_metric=champion_metric,
                higher_is_better=higher_is_better,
                tolerance=performance_tolerance,
                metric_name=metric_name,
                use_estimate=use_estimate,
                pool_rows=min_labeled_rows,
            ),
        ),
    ]
    triggers = tuple(name for name, fired, _ in rules if fired)
    reasons = [reason for _, fired, reason in rules if fired]
    reasons += [reason for _, fired, reason in rules if not fired]
    if not triggers:
        return RetrainDecision(retrain=False, reasons=tuple(reasons), triggers=())

    blockers = []
    if batches_since_retrain is not None and batches_since_retrain < cooldown_batches:
        blockers.append(
            f"cooldown: the last retrain was {_plural(batches_since_retrain, 'batch', 'batches')} "
            f"ago, the policy waits {_plural(cooldown_batches, 'batch', 'batches')}"
        )
    needed, why = _rows_needed(history, min_labeled_rows=min_labeled_rows, cooldown=cooldown_batches)
    if labeled_rows_since_retrain < needed:
        blockers.append(
            f"only {labeled_rows_since_retrain:,} labeled rows since the last retrain (need {needed:,}{why})"
        )
    if blockers:
        return RetrainDecision(retrain=False, reasons=tuple(blockers + reasons), triggers=triggers)
    return RetrainDecision(retrain=True, reasons=tuple(reasons), triggers=triggers)


def _check(k: int, m: int, tolerance: float, cooldown: int, min_rows: int) -> None:
    if k < 1:
        raise ValueError(f"drift_k must be >= 1, got {k}")
    if m < k:
        raise ValueError(f"drift_m must be >= drift_k ({k}), got {m}")
    if tolerance < 0:
        raise ValueError(f"performance_tolerance must be >= 0, got {tolerance}")
    if cooldown < 0:
        raise ValueError(f"cooldown_batches must be >= 0, got {cooldown}")
    if min_rows < 0:
        raise ValueError(f"min_labeled_rows must be >= 0, got {min_rows}")


def _without_champion(labeled_rows: int, min_rows: int) -> RetrainDecision:
    if labeled_rows >= min_rows:
        reason = f"no champion yet: training the first model on {labeled_rows:,} labeled rows"
        return RetrainDecision(retrain=True, reasons=(reason,), triggers=())
    reason = f"no champion yet, but only {labeled_rows:,} labeled rows (need {min_rows:,})"
    return RetrainDecision(retrain=False, reasons=(reason,), triggers=())


def _drift_rule(history: Sequence[BatchSignal], *, k: int, m: int) -> tuple[bool, str]:
    window = list(history)[-m:]
    if not window:
        return False, "no drift trigger: no batches processed yet"
    drifted = [s.batch_id for s in window if s.drift_detected]
    unknown = sum(s.drift_detected is None for s in window)
    scope = f"the last {len(window)} batches" if len(window) > 1 else "the only batch"
    if len(window) < m:
        scope += f" (fewer than {m} so far)"
    text = f"dataset drift in {len(drifted)} of {scope}"
    if drifted:
        text += f" ({', '.join(drifted)})"
    if unknown:
        text += f", {unknown} without a drift result"
    newest = window[-1]
    latest = ""
    if newest.drift_share is not None:
        latest = f"; batch {newest.batch_id}: {_pct(newest.drift_share)} of columns drifted"
    rule = f"at least {k} of {m}"
    if len(drifted) >= k:
        return True, f"{text} (rule: {rule}){latest}"
    return False, f"no drift trigger: {text} (needs {rule}){latest}"


def _performance_rule(
    history: Sequence[BatchSignal],
    *,
    champion_metric: float | None,
    higher_is_better: bool,
    tolerance: float,
    metric_name: str,
    use_estimate: bool = False,
    pool_rows: int = 1,
) -> tuple[bool, str]:
    if not history:
        return False, "no performance check: no batches processed yet"
    if champion_metric is None:
        return False, f"no performance check: the champion has no holdout {metric_name}"
    # With late labels the newest batch has no realized metric yet: judge the newest one that has,
    # or (use_estimate) the newest one with a realized or an estimated value, realized first.
    judged = [(b, j) for b in history if (j := _judged_value(b, use_estimate=use_estimate)) is not None]
    if not judged:
        newest = history[-1]
        return False, (
            f"no performance check: batch {newest.batch_id} has no realized {metric_name} yet "
            f"({newest.labeled_rows:,} labeled rows)" + (" and no estimate" if use_estimate else "")
        )
    pooled = _pool(judged, rows=pool_rows)
    value = _weighted_mean([(v, max(b.labeled_rows, 1)) for b, (v, _) in pooled])
    estimated = any(e for _, (_, e) in pooled)
    rows = sum(b.labeled_rows for b, _ in pooled)
    worse_by = champion_metric - value if higher_is_better else value - champion_metric
    degradation = worse_by / abs(champion_metric) if champion_metric != 0 else worse_by
    side = "below" if higher_is_better else "above"
    names = ", ".join(b.batch_id for b, _ in pooled)
    where = f"batch {names}" if len(pooled) == 1 else f"the newest {len(pooled)} batches ({names})"
    if estimated:
        head = (
            f"estimated {metric_name} {value:.3f} on {where} (no realized value yet, {rows:,} labeled rows)"
        )
    else:
        head = f"{metric_name} {value:.3f} on {where} ({rows:,} labeled rows)"
    champion = f"the champion's holdout {champion_metric:.3f}"
    if degradation > tolerance:
        return True, f"{head} is {_pct(degradation)} {side} {champion} (tolerance {_pct(tolerance)})"
    if degradation <= 0:
        return False, f"no performance trigger: {head} is at least as good as {champion}"
    return False, (
        f"no performance trigger: {head} is {_pct(degradation)} {side} {champion}, "
        f"within tolerance {_pct(tolerance)}"
    )


def _pool(
    judged: Sequence[tuple[BatchSignal, tuple[float, bool]]], *, rows: int
) -> list[tuple[BatchSignal, tuple[float, bool]]]:
    """The newest judged batches, back until they hold ``rows`` labeled rows (or all of them).

    One small batch's metric is mostly noise (30 rows of macro-F1): judged alone against the
    champion's holdout value it fires on chance. A batch that holds ``rows`` is judged alone, and
    so is an estimate (a batch without labels: its rows are not known here); only realized values
    are pooled."""
    if judged[-1][1][1]:
        return [judged[-1]]
    pooled: list[tuple[BatchSignal, tuple[float, bool]]] = []
    for item in reversed(judged):
        if item[1][1]:  # an estimate: the pool stops at it
            break
        pooled.insert(0, item)
        if sum(b.labeled_rows for b, _ in pooled) >= rows:
            break
    return pooled


def _weighted_mean(values: Sequence[tuple[float, int]]) -> float:
    return sum(v * w for v, w in values) / sum(w for _, w in values)


def _rows_needed(history: Sequence[BatchSignal], *, min_labeled_rows: int, cooldown: int) -> tuple[int, str]:
    """Labeled rows a retrain needs since the last one: ``min_labeled_rows``, but never more than
    the cooldown's worth of batches. Where batches are small (30 labeled rows), 200 rows would hold
    every retrain back for 7 batches whatever the drift; the cooldown then sets the pace instead."""
    sizes = sorted(b.labeled_rows for b in history if b.labeled_rows > 0)
    if not sizes or cooldown < 1:
        return min_labeled_rows, ""
    typical = sizes[len(sizes) // 2]
    worth = typical * cooldown
    if worth >= min_labeled_rows:
        return min_labeled_rows, ""
    return max(worth, 1), (
        f": {_plural(cooldown, 'batch', 'batches')} of ~{typical:,} labeled rows, "
        f"below policy.min_labeled_rows {min_labeled_rows:,}"
    )


def _judged_value(batch: BatchSignal, *, use_estimate: bool) -> tuple[float, bool] | None:
    """(value, is it an estimate) the performance rule judges a batch by; None when it has none."""
    if batch.realized_metric is not None:
        return batch.realized_metric, False
    if use_estimate and batch.estimated_metric is not None:
        return batch.estimated_metric, True
    return None


def _pct(fraction: float) -> str:
    """0.061 -> "6.1%", 0.02 -> "2%"."""
    return f"{fraction * 100:.1f}".rstrip("0").rstrip(".") + "%"


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
