"""Gate thresholds and the individual rule checks, each giving an outcome with a sentence.

Modelled on MLflow's ``models/evaluation/validation.py``: thresholds validate themselves when
built; every outcome explains itself ("challenger AUC 0.712 vs champion 0.698: ...").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from models.bootstrap import paired_bootstrap, percentile_interval
from models.gate_fairness import MEASURES, disparity_batch, effective_measure, measure_label, split_groups
from models.metrics import BatchMetric
from models.spec import higher_is_better
from models.train import Predictions

MODES: tuple[str, ...] = ("estimate", "non_inferiority", "superiority")
METRIC_NAMES = {"auc": "AUC", "macro_f1": "macro F1", "f1": "F1", "rmse": "RMSE", "mae": "MAE", "r2": "R2"}


def fmt(x: float) -> str:
    """Metric value for messages: three decimals, or four significant digits when large."""
    return f"{x:.3f}" if abs(x) < 1000 else f"{x:.4g}"


def fmt_signed(x: float) -> str:
    """Signed difference for messages (``+0.014``)."""
    return f"{x:+.3f}" if abs(x) < 1000 else f"{x:+.4g}"


@dataclass(frozen=True)
class GateRules:
    """Promotion thresholds. Margins are in metric units unless ``relative_margins``.

    Attributes:
        metric: metric compared (e.g. ``auc``, ``macro_f1``, ``rmse``).
        mode: ``estimate`` (the difference itself at least 0: the challenger scores at least as
            well on the holdout; the CI is reported), ``non_inferiority`` (CI lower bound of the
            difference above ``-margin``) or ``superiority`` (lower bound above 0).
        margin: tolerated loss against the champion (``non_inferiority``).
        min_rows: fewer labeled holdout rows than this rejects outright.
        n_bootstrap, confidence, seed: paired bootstrap of the difference.
        slices: slice columns whose groups must not regress by more than ``slice_margin``
            (groups with at least ``slice_min_rows`` rows, point difference).
        baseline_min_improvement: CI lower bound of the gain over the trivial model must reach it.
        relative_margins: margins are fractions of the reference value (champion or baseline),
            for scale-dependent metrics such as rmse/mae.
        fairness: sensitive columns whose group disparity the challenger must not widen by more
            than ``fairness_margin`` (lower bound of the paired-bootstrap widening); ``None``
            margin: no fairness rule. ``fairness_measure`` and ``fairness_min_rows`` as in
            ``models.gate_fairness``.
    """

    metric: str
    mode: Literal["estimate", "non_inferiority", "superiority"] = "estimate"
    margin: float = 0.01
    min_rows: int = 100
    n_bootstrap: int = 500
    confidence: float = 0.95
    seed: int = 0
    slices: tuple[str, ...] = ()
    slice_margin: float = 0.05
    slice_min_rows: int = 100
    baseline_min_improvement: float = 0.01
    relative_margins: bool = False
    fairness: tuple[str, ...] = ()
    fairness_margin: float | None = 0.05
    fairness_measure: str = "equalized_odds"
    fairness_min_rows: int = 50

    def __post_init__(self) -> None:
        try:
            higher_is_better(self.metric)
        except ValueError as exc:
            raise ValueError(f"GateRules.metric={self.metric!r}: {exc}") from exc
        object.__setattr__(self, "slices", tuple(self.slices))
        object.__setattr__(self, "fairness", tuple(self.fairness))
        checks: list[tuple[str, bool, str]] = [
            ("mode", self.mode in MODES, f"one of {MODES}"),
            ("margin", self.margin >= 0, ">= 0"),
            ("min_rows", isinstance(self.min_rows, int) and self.min_rows >= 1, "an int >= 1"),
            ("n_bootstrap", isinstance(self.n_bootstrap, int) and self.n_bootstrap >= 1, "an int >= 1"),
            ("confidence", 0 < self.confidence < 1, "strictly between 0 and 1"),
            ("seed", isinstance(self.seed, int) and self.seed >= 0, "an int >= 0"),
            ("slices", all(isinstance(s, str) and s for s in self.slices), "non-empty names"),
            ("slice_margin", self.slice_margin >= 0, ">= 0"),
            (
                "slice_min_rows",
                isinstance(self.slice_min_rows, int) and self.slice_min_rows >= 1,
                "an int >= 1",
            ),
            ("baseline_min_improvement", self.baseline_min_improvement >= 0, ">= 0"),
            ("fairness", all(isinstance(s, str) and s for s in self.fairness), "non-empty names"),
            ("fairness_margin", self.fairness_margin is None or self.fairness_margin >= 0, "None or >= 0"),
            ("fairness_measure", self.fairness_measure in MEASURES, f"one of {MEASURES}"),
            (
                "fairness_min_rows",
                isinstance(self.fairness_min_rows, int) and self.fairness_min_rows >= 1,
                "an int >= 1",
            ),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"GateRules.{name}={getattr(self, name)!r}: must be {expected}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (e.g. for run parameters)."""
        return {**asdict(self), "slices": list(self.slices), "fairness": list(self.fairness)}

    @property
    def fairness_columns(self) -> tuple[str, ...]:
        """Columns the fairness rule judges: none when the margin is ``None``."""
        return () if self.fairness_margin is None else self.fairness


@dataclass(frozen=True)
class RuleOutcome:
    """One rule's verdict and a sentence explaining it."""

    name: str
    passed: bool
    message: str


@dataclass(frozen=True)
class Judge:
    """What every rule needs: targets, bound metric, orientation and wording."""

    y: np.ndarray
    metric: BatchMetric
    orient: float
    label: str
    rules: GateRules

    def point(self, pred: Predictions, mask: np.ndarray | None = None) -> float:
        """Metric on all rows (or the masked ones); NaN when there are none."""
        y = self.y if mask is None else self.y[mask]
        p = pred if mask is None else _subset(pred, mask)
        return float(self.metric(y, p)(np.ones((1, len(y))))[0]) if len(y) else float("nan")

    def scale(self, reference: float) -> float:
        """Multiplier turning a margin into metric units."""
        return abs(reference) if self.rules.relative_margins else 1.0


def _subset(p: Predictions, mask: np.ndarray) -> Predictions:
    return Predictions(p.label[mask], p.score[mask], None if p.proba is None else p.proba[mask])


def _ci_text(ci: tuple[float, float] | None, confidence: float) -> str:
    body = "undefined" if ci is None else f"[{fmt_signed(ci[0])}, {fmt_signed(ci[1])}]"
    return f"{confidence:.0%} CI {body}"


def baseline_rule(
    judge: Judge, chal: float, base: float, gains: np.ndarray, champion_gains: np.ndarray | None = None
) -> RuleOutcome:
    """The challenger must beat the trivial model: CI lower bound of the gain reaches the minimum.

    One exception: a champion that scores clearly below the trivial model (the upper bound of
    its own gain over it is below 0: the data moved away from it) is no bar to keep. A
    challenger that scores at least the trivial model then passes: whatever it learned, serving
    it is no worse than serving the trivial model, and far better than the champion. (The
    champion rule still compares the two.)
    """
    rules = judge.rules
    ci = percentile_interval(gains, rules.confidence)
    need = rules.baseline_min_improvement * judge.scale(base)
    ok = ci is not None and ci[0] >= need
    text = (
        f"challenger {judge.label} {fmt(chal)} vs trivial baseline {fmt(base)}: improvement "
        f"{fmt_signed(judge.orient * (chal - base))}, {_ci_text(ci, rules.confidence)}, lower bound "
        f"{'at or above' if ok else 'below'} required {fmt_signed(need)}"
    )
    if not ok and champion_gains is not None:
        champ_ci = percentile_interval(champion_gains, rules.confidence)
        if champ_ci is not None and champ_ci[1] < 0 and judge.orient * (chal - base) >= 0:
            ok = True
            text += (
                f"; but the champion scores clearly below the trivial baseline (its gain "
                f"{_ci_text(champ_ci, rules.confidence)}), and the challenger scores at least the baseline"
            )
    return RuleOutcome("beats_baseline", ok, text)


def champion_rule(judge: Judge, chal: float, champ: float, ci: tuple[float, float] | None) -> RuleOutcome:
    """Against the champion: non-inferiority (CI lower bound above -margin), superiority (above 0),
    or the estimate (the difference itself at least 0)."""
    rules = judge.rules
    difference = judge.orient * (chal - champ)
    head = (
        f"challenger {judge.label} {fmt(chal)} vs champion {fmt(champ)}: difference "
        f"{fmt_signed(difference)}, {_ci_text(ci, rules.confidence)}"
    )
    if rules.mode == "estimate":
        ok = ci is not None and difference >= 0
        verdict = "at least" if ok else "below"
        return RuleOutcome(
            rules.mode, ok, f"{head}, the challenger scores {verdict} the champion on the holdout"
        )
    floor = -rules.margin * judge.scale(champ) if rules.mode == "non_inferiority" else 0.0
    ok = ci is not None and ci[0] > floor
    return RuleOutcome(
        rules.mode,
        ok,
        f"{head}, lower bound {'above' if ok else 'not above'} {fmt_signed(floor)} "
        f"({rules.mode.replace('_', '-')})",
    )


def slice_rule(
    judge: Judge, name: str, groups: np.ndarray, chal: Predictions, champ: Predictions
) -> RuleOutcome:
    """No group of a slice column (with enough rows) may lose more than ``slice_margin``."""
    rules = judge.rules
    checked: list[tuple[float, str, int, float, float]] = []
    for group in np.unique(groups):
        mask = groups == group
        if mask.sum() >= rules.slice_min_rows:
            a, b = judge.point(chal, mask), judge.point(champ, mask)
            if np.isfinite(a) and np.isfinite(b):
                checked.append((judge.orient * (a - b), str(group), int(mask.sum()), a, b))
    if not checked:
        return RuleOutcome(
            f"slice:{name}",
            True,
            f"slice {name!r}: no group with >= {rules.slice_min_rows} rows; not checked",
        )
    diff, group, rows, a, b = min(checked)
    allowed = -rules.slice_margin * judge.scale(b)
    ok = diff >= allowed
    return RuleOutcome(
        f"slice:{name}",
        ok,
        f"slice {name!r}: worst of {len(checked)} groups is {group!r} (n={rows}), challenger "
        f"{judge.label} {fmt(a)} vs champion {fmt(b)}, difference {fmt_signed(diff)} "
        f"{'within' if ok else 'below'} {fmt_signed(allowed)}",
    )


def fairness_rule(
    judge: Judge,
    column: str,
    values: np.ndarray,
    chal: Predictions,
    champ: Predictions | None,
    *,
    task: str,
    positive_label: str | None,
) -> RuleOutcome:
    """The challenger must not widen the group disparity of ``column`` by more than the margin.

    Widening is challenger − champion disparity on the same rows, bootstrapped on the same
    seeded resamples as the main metric; the rule fails when its CI lower bound exceeds
    ``fairness_margin`` (confidently wider). Fewer than two groups with enough rows: not checked.
    """
    rules, name = judge.rules, f"fairness:{column}"
    if champ is None:
        return RuleOutcome(name, True, f"fairness {column!r}: no champion to compare")
    margin = 0.0 if rules.fairness_margin is None else rules.fairness_margin
    measure = effective_measure(rules.fairness_measure, task)
    label = measure_label(measure, rules.metric)
    split = split_groups(values, min_rows=rules.fairness_min_rows)
    left_out = f", {len(split.small)} smaller left out" if split.small else ""
    if len(split.judged) < 2:
        return RuleOutcome(
            name,
            True,
            f"fairness {column!r}: {len(split.judged)} group(s) with >= {rules.fairness_min_rows} rows"
            f"{left_out}; {label} not checked",
        )
    bound = disparity_batch(
        split, measure=measure, task=task, metric=rules.metric, positive_label=positive_label
    )
    a, b = (float(bound(judge.y, p)(np.ones((1, len(judge.y))))[0]) for p in (chal, champ))
    boot = paired_bootstrap(judge.y, [chal, champ], bound, n_resamples=rules.n_bootstrap, seed=rules.seed)
    ci = percentile_interval(boot[0] - boot[1], rules.confidence)
    ok = ci is None or ci[0] <= margin
    verdict = "not judged" if ci is None else f"lower bound {'at or below' if ok else 'above'}"
    return RuleOutcome(
        name,
        ok,
        f"fairness {column!r} ({label}, {len(split.judged)} groups with >= {rules.fairness_min_rows} rows"
        f"{left_out}): challenger {fmt(a)} vs champion {fmt(b)}, widening {fmt_signed(a - b)}, "
        f"{_ci_text(ci, rules.confidence)}, {verdict} margin {fmt_signed(margin)}",
    )
