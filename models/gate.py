"""Shadow comparison gate: should the challenger replace the champion? A decision with reasons.

A rejection is a normal result; a missing champion is an explicit case judged against the
trivial baseline only. The bootstrap is paired and seeded (see ``models.bootstrap``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from models.bootstrap import paired_bootstrap, percentile_interval
from models.gate_rules import (
    METRIC_NAMES,
    GateRules,
    Judge,
    RuleOutcome,
    baseline_rule,
    champion_rule,
    fairness_rule,
    fmt,
    fmt_signed,
    slice_rule,
)
from models.metrics import json_float, metric_batch, truth_array
from models.spec import check_task, higher_is_better, label_text
from models.train import Predictions

__all__ = ["GateDecision", "GateRules", "RuleOutcome", "evaluate_gate"]

logger = logging.getLogger(__name__)


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
        name = METRIC_NAMES.get(self.metric, self.metric)
        head = f"{self.verdict.upper()} ({self.case}, n={self.n}): {name} {fmt(self.challenger)}"
        if self.champion is not None and self.difference is not None:
            head += f" vs champion {fmt(self.champion)}, diff {fmt_signed(self.difference)}"
            if self.ci_low is not None and self.ci_high is not None:
                head += f" [{fmt_signed(self.ci_low)}, {fmt_signed(self.ci_high)}]"
        head += f"; baseline {fmt(self.baseline)}"
        failed = [r.message for r in self.rules if not r.passed]
        return head + (f" -- {failed[0]}" if failed else "")


@dataclass(frozen=True)
class GateVerdict:
    """What a retrain's gate step decided: promote or reject, with the summary and reasons shown.

    Either the gate's own decision (``decision`` holds its numbers; ``source`` is ``"shadow"``
    for the shadow gate), or a case of the retrain's own with no gate numbers: ``forced`` (the
    replay baselines promote whatever the gate says), ``trivial_baseline`` (no model beat it
    yet), ``no_champion`` (too little data to train). A dict only at the edge (``to_dict``): the
    ledger, the run's ``gate/decision.json``, ``--json``.
    """

    promote: bool
    case: str
    metric: str
    summary: str
    reasons: tuple[str, ...] = ()
    decision: GateDecision | None = None
    forced: bool = False
    source: str | None = None

    @classmethod
    def of(cls, decision: GateDecision, *, source: str | None = None) -> GateVerdict:
        """The gate's decision as it stands."""
        return cls(
            decision.promote,
            decision.case,
            decision.metric,
            decision.summary(),
            tuple(decision.reasons),
            decision,
            source=source,
        )

    @property
    def verdict(self) -> Literal["promote", "reject"]:
        return "promote" if self.promote else "reject"

    def to_dict(self) -> dict[str, Any]:
        out = self.decision.to_dict() if self.decision else {"metric": self.metric, "n": 0, "rules": []}
        out |= {
            "promote": self.promote,
            "verdict": self.verdict,
            "case": self.case,
            "summary": self.summary,
            "reasons": list(self.reasons),
        }
        if self.forced:
            out["forced"] = True
        if self.source:
            out["source"] = self.source
        return out


def _column_values(
    kind: str, names: tuple[str, ...], given: Mapping[str, Any], n: int
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name not in given:
            raise ValueError(f"no {kind} values given for {kind} {name!r}")
        out[name] = np.asarray(label_text(given[name]), dtype=object)
        if len(out[name]) != n:
            raise ValueError(f"{kind} {name!r} has {len(out[name])} values for {n} rows")
    return out


def _check_inputs(
    n: int, preds: Mapping[str, Predictions | None], rules: GateRules, slices: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    for what, p in preds.items():
        if p is not None and len(p) != n:
            raise ValueError(f"{what} has {len(p)} predictions for {n} targets")
    return _column_values("slice", rules.slices, slices, n)


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
    sensitive_values: Mapping[str, Any] | None = None,
) -> GateDecision:
    """Judge a challenger on a labeled holdout against the champion (if any) and the baseline.

    Differences are oriented so that positive means the challenger is better. Without a champion
    only the row count and the baseline are judged; slices need a champion, and each fairness
    rule (``rules.fairness`` columns, values in ``sensitive_values``) passes with "no champion to
    compare". ``positive_label`` is required for binary ``auc``/``f1``.

    Raises:
        ValueError: mismatched lengths, a metric the task lacks, or a slice or sensitive column
            without values.
    """
    y = truth_array(y_true, task=check_task(task))
    n = len(y)
    preds = {"challenger": challenger, "champion": champion, "baseline": baseline}
    groups = _check_inputs(n, preds, rules, slice_values or {})
    sensitive = _column_values("sensitive column", rules.fairness_columns, sensitive_values or {}, n)
    hib = higher_is_better(rules.metric)
    name = METRIC_NAMES.get(rules.metric, rules.metric) + ("" if hib else " (lower is better)")
    judge = Judge(
        y,
        metric_batch(rules.metric, task=task, positive_label=positive_label),
        1.0 if hib else -1.0,
        name,
        rules,
    )
    chal, base = judge.point(challenger), judge.point(baseline)
    champ = None if champion is None else judge.point(champion)
    enough = n >= rules.min_rows
    outcomes = [
        RuleOutcome(
            "min_rows",
            enough,
            f"holdout has {n} labeled rows (minimum {rules.min_rows})"
            if enough
            else f"holdout has {n} labeled rows, fewer than the minimum {rules.min_rows}",
        )
    ]
    ci: tuple[float, float] | None = None
    if enough:
        scored = [challenger, baseline] + ([champion] if champion is not None else [])
        boot = paired_bootstrap(y, scored, judge.metric, n_resamples=rules.n_bootstrap, seed=rules.seed)
        champion_gains = judge.orient * (boot[2] - boot[1]) if champion is not None else None
        outcomes.append(baseline_rule(judge, chal, base, judge.orient * (boot[0] - boot[1]), champion_gains))
        if champion is not None and champ is not None:
            ci = percentile_interval(judge.orient * (boot[0] - boot[2]), rules.confidence)
            outcomes.append(champion_rule(judge, chal, champ, ci))
            outcomes += [slice_rule(judge, s, groups[s], challenger, champion) for s in groups]
        outcomes += [
            fairness_rule(judge, c, v, challenger, champion, task=task, positive_label=positive_label)
            for c, v in sensitive.items()
        ]
    promote = all(o.passed for o in outcomes)
    result = GateDecision(
        promote=promote,
        verdict="promote" if promote else "reject",
        case="no_champion" if champion is None else "compared",
        metric=rules.metric,
        higher_is_better=hib,
        n=n,
        challenger=chal,
        champion=champ,
        baseline=base,
        difference=None if champ is None else judge.orient * (chal - champ),
        ci_low=None if ci is None else ci[0],
        ci_high=None if ci is None else ci[1],
        rules=tuple(outcomes),
    )
    logger.info("gate: %s", result.summary())
    return result
