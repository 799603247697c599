"""Shadow comparison gate: should the challenger replace the champion? A decision with reasons.

Modelled on MLflow's ``models/evaluation/validation.py``: rules validate themselves when built,
each rule outcome is a small value with a sentence, a missing champion is an explicit case.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from models.metrics import json_float, metric_batch, truth_array
from models.spec import HIGHER_IS_BETTER, check_task, higher_is_better, label_text
from models.train import Predictions

logger = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("non_inferiority", "superiority")
BOOTSTRAP_CELLS_PER_CHUNK = 2_000_000
"""Bounds memory: resamples are drawn in chunks of about this many (resample x row) weights."""
_NAMES = {"auc": "AUC", "macro_f1": "macro F1", "f1": "F1", "rmse": "RMSE", "mae": "MAE", "r2": "R2"}


def _f(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 1000 else f"{x:.4g}"


def _s(x: float) -> str:
    return f"{x:+.3f}" if abs(x) < 1000 else f"{x:+.4g}"


@dataclass(frozen=True)
class GateRules:
    """Promotion thresholds. Margins are in metric units unless ``relative_margins``.

    Attributes:
        metric: metric compared (e.g. ``auc``, ``macro_f1``, ``rmse``).
        mode: ``non_inferiority`` (CI lower bound of the difference above ``-margin``) or
            ``superiority`` (lower bound above 0).
        margin: tolerated loss against the champion.
        min_rows: fewer labeled holdout rows than this rejects outright.
        n_bootstrap, confidence, seed: paired bootstrap of the difference.
        slices: slice columns whose groups must not regress by more than ``slice_margin``
            (groups with at least ``slice_min_rows`` rows, point difference).
        baseline_min_improvement: CI lower bound of the gain over the trivial model must reach it.
        relative_margins: margins are fractions of the reference value (champion or baseline),
            for scale-dependent metrics such as rmse/mae.
    """

    metric: str
    mode: Literal["non_inferiority", "superiority"] = "non_inferiority"
    margin: float = 0.01
    min_rows: int = 200
    n_bootstrap: int = 500
    confidence: float = 0.95
    seed: int = 0
    slices: tuple[str, ...] = ()
    slice_margin: float = 0.05
    slice_min_rows: int = 100
    baseline_min_improvement: float = 0.01
    relative_margins: bool = False

    def __post_init__(self) -> None:
        higher_is_better(self.metric)  # raises for an unknown metric
        object.__setattr__(self, "slices", tuple(self.slices))
        checks: list[tuple[str, bool, str]] = [
            ("mode", self.mode in MODES, f"one of {MODES}"),
            ("margin", self.margin >= 0, ">= 0"),
            ("min_rows", isinstance(self.min_rows, int) and self.min_rows >= 1, "an int >= 1"),
            ("n_bootstrap", isinstance(self.n_bootstrap, int) and self.n_bootstrap >= 1,
             "an int >= 1"),
            ("confidence", 0 < self.confidence < 1, "strictly between 0 and 1"),
            ("seed", isinstance(self.seed, int) and self.seed >= 0, "an int >= 0"),
            ("slices", all(isinstance(s, str) and s for s in self.slices), "non-empty names"),
            ("slice_margin", self.slice_margin >= 0, ">= 0"),
            ("slice_min_rows", isinstance(self.slice_min_rows, int) and self.slice_min_rows >= 1,
             "an int >= 1"),
            ("baseline_min_improvement", self.baseline_min_improvement >= 0, ">= 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"GateRules.{name}={getattr(self, name)!r}: must be {expected}")


@dataclass(frozen=True)
class RuleOutcome:
    """One rule's verdict and a sentence explaining it."""

    name: str
    passed: bool
    message: str


@dataclass(frozen=True)
class GateDecision:
    """Promote or reject, with the numbers and the rule outcomes behind it."""

    promote: bool
    verdict: Literal["promote", "reject"]
    case: Literal["compared", "no_champion"]
    metric: str
    higher_is_better: bool
    n: int
    challenger: float
    champion: float | None
    baseline: float
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    rules: tuple[RuleOutcome, ...] = field(default=())

    @property
    def reasons(self) -> list[str]:
        """Messages of the failed rules; all messages when promoted."""
        failed = [r.message for r in self.rules if not r.passed]
        return failed if failed else [r.message for r in self.rules]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (NaN -> None)."""
        data = asdict(self)
        for key in ("challenger", "champion", "baseline", "difference", "ci_low", "ci_high"):
            data[key] = json_float(data[key])
        data["rules"] = [asdict(r) for r in self.rules]
        data["reasons"] = self.reasons
        return data

    def summary(self) -> str:
        """One line for logs and run descriptions."""
        name = _NAMES.get(self.metric, self.metric)
        head = f"{self.verdict.upper()} ({self.case}, n={self.n}): {name} {_f(self.challenger)}"
        if self.champion is not None and self.difference is not None:
            head += f" vs champion {_f(self.champion)}, diff {_s(self.difference)}"
            if self.ci_low is not None and self.ci_high is not None:
                head += f" [{_s(self.ci_low)}, {_s(self.ci_high)}]"
        head += f"; baseline {_f(self.baseline)}"
        failed = [r.message for r in self.rules if not r.passed]
        return head + (f" -- {failed[0]}" if failed else "")


def _bootstrap(
    y: np.ndarray, preds: list[Predictions], fn: Any, *, n_boot: int, seed: int
) -> np.ndarray:
    """Metric of each prediction set on the same resamples: shape (len(preds), n_boot)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    chunk = max(1, BOOTSTRAP_CELLS_PER_CHUNK // n)
    out = np.empty((len(preds), n_boot))
    bound = [fn(y, p) for p in preds]
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        W = np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(float)
        for i, evaluate in enumerate(bound):
            out[i, start : start + b] = evaluate(W)
    return out


def _interval(diffs: np.ndarray, confidence: float) -> tuple[float, float] | None:
    finite = diffs[np.isfinite(diffs)]
    if finite.size == 0:
        return None
    tail = (1 - confidence) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)


def _subset(p: Predictions, mask: np.ndarray) -> Predictions:
    return Predictions(p.label[mask], p.score[mask], None if p.proba is None else p.proba[mask])


def _slice_rule(
    name: str, groups: np.ndarray, y: np.ndarray, chal: Predictions, champ: Predictions,
    fn: Any, orient: float, rules: GateRules, label: str,
) -> RuleOutcome:
    checked: list[tuple[float, str, int, float, float]] = []
    for group in np.unique(groups):
        mask = groups == group
        if mask.sum() < rules.slice_min_rows:
            continue
        ones = np.ones((1, int(mask.sum())))
        a = float(fn(y[mask], _subset(chal, mask))(ones)[0])
        b = float(fn(y[mask], _subset(champ, mask))(ones)[0])
        if np.isfinite(a) and np.isfinite(b):
            checked.append((orient * (a - b), str(group), int(mask.sum()), a, b))
    if not checked:
        return RuleOutcome(f"slice:{name}", True,
                           f"slice {name!r}: no group with >= {rules.slice_min_rows} rows; "
                           "not checked")
    diff, group, rows, a, b = min(checked)
    allowed = rules.slice_margin * (abs(b) if rules.relative_margins else 1.0)
    passed = diff >= -allowed
    verdict = "within" if passed else "below"
    return RuleOutcome(
        f"slice:{name}", passed,
        f"slice {name!r}: worst of {len(checked)} groups is {group!r} (n={rows}), challenger "
        f"{label} {_f(a)} vs champion {_f(b)}, difference {_s(diff)} {verdict} {_s(-allowed)}",
    )


def evaluate_gate(
    *,
    y_true: Any,
    challenger: Predictions,
    champion: Predictions | None,
    baseline: Predictions,
    rules: GateRules,
    task: str,
    positive_label: str | None = None,
    slice_values: Mapping[str, Any] | None = None,
) -> GateDecision:
    """Judge a challenger on a labeled holdout against the champion (if any) and the baseline.

    ``positive_label`` is required for binary ``auc``/``f1``. Differences are oriented so that
    positive means the challenger is better.

    Raises:
        ValueError: mismatched lengths, a metric the task lacks, or a slice without values.
    """
    task = check_task(task)
    y = truth_array(y_true, task=task)
    n = len(y)
    for what, p in (("challenger", challenger), ("champion", champion), ("baseline", baseline)):
        if p is not None and len(p) != n:
            raise ValueError(f"{what} has {len(p)} predictions for {n} targets")
    missing = [s for s in rules.slices if s not in (slice_values or {})]
    if missing:
        raise ValueError(f"slice values missing for {missing}")
    fn = metric_batch(rules.metric, task=task, positive_label=positive_label)
    hib = HIGHER_IS_BETTER[rules.metric]
    orient = 1.0 if hib else -1.0
    label = _NAMES.get(rules.metric, rules.metric) + ("" if hib else " (lower is better)")
    ones = np.ones((1, n))
    chal_v = float(fn(y, challenger)(ones)[0]) if n else float("nan")
    base_v = float(fn(y, baseline)(ones)[0]) if n else float("nan")
    champ_v = float(fn(y, champion)(ones)[0]) if champion is not None and n else None
    point = None if champ_v is None else orient * (chal_v - champ_v)
    decision = dict(metric=rules.metric, higher_is_better=hib, n=n, challenger=chal_v,
                    champion=champ_v, baseline=base_v, difference=point)
    case: Literal["compared", "no_champion"] = "no_champion" if champion is None else "compared"

    outcomes = [RuleOutcome("min_rows", n >= rules.min_rows,
                            f"holdout has {n} labeled rows "
                            + ("" if n >= rules.min_rows else "below ")
                            + f"(minimum {rules.min_rows})")]
    ci: tuple[float, float] | None = None
    if n >= rules.min_rows:
        preds = [challenger, baseline] + ([champion] if champion is not None else [])
        boot = _bootstrap(y, preds, fn, n_boot=rules.n_bootstrap, seed=rules.seed)
        pct = f"{rules.confidence:.0%}"
        gain = _interval(orient * (boot[0] - boot[1]), rules.confidence)
        need = rules.baseline_min_improvement * (abs(base_v) if rules.relative_margins else 1.0)
        ok = gain is not None and gain[0] >= need
        ci_text = "undefined" if gain is None else f"[{_s(gain[0])}, {_s(gain[1])}]"
        outcomes.append(RuleOutcome(
            "beats_baseline", ok,
            f"challenger {label} {_f(chal_v)} vs trivial baseline {_f(base_v)}: improvement "
            f"{_s(orient * (chal_v - base_v))}, {pct} CI {ci_text}, lower bound "
            + ("at or above" if ok else "not above") + f" required {_s(need)}"))
        if champion is not None and champ_v is not None and point is not None:
            ci = _interval(orient * (boot[0] - boot[2]), rules.confidence)
            floor = (-rules.margin * (abs(champ_v) if rules.relative_margins else 1.0)
                     if rules.mode == "non_inferiority" else 0.0)
            ok = ci is not None and ci[0] > floor
            ci_text = "undefined" if ci is None else f"[{_s(ci[0])}, {_s(ci[1])}]"
            outcomes.append(RuleOutcome(
                rules.mode, ok,
                f"challenger {label} {_f(chal_v)} vs champion {_f(champ_v)}: difference "
                f"{_s(point)}, {pct} CI {ci_text}, lower bound "
                + ("above" if ok else "not above") + f" {_s(floor)} ({rules.mode.replace('_', '-')})"))
            for name in rules.slices:
                groups = np.asarray(label_text((slice_values or {})[name]), dtype=object)
                if len(groups) != n:
                    raise ValueError(f"slice {name!r} has {len(groups)} values for {n} rows")
                outcomes.append(_slice_rule(name, groups, y, challenger, champion, fn,
                                            orient, rules, label))
    promote = all(o.passed for o in outcomes)
    result = GateDecision(
        promote=promote, verdict="promote" if promote else "reject", case=case,
        ci_low=None if ci is None else ci[0], ci_high=None if ci is None else ci[1],
        rules=tuple(outcomes), **decision,  # type: ignore[arg-type]
    )
    logger.info("gate: %s", result.summary())
    return result
