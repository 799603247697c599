"""The gate's fairness rule: a challenger must not confidently widen a group disparity."""

from __future__ import annotations

import re

import numpy as np
import pytest

from driftline.core.config import FairnessConfig, GateConfig
from models.bootstrap import paired_bootstrap, percentile_interval
from models.gate import GateDecision, GateRules, evaluate_gate
from models.gate_fairness import disparity_batch, split_groups
from models.metrics import baseline_predictions, truth_array
from models.train import Predictions

N = 2000
SEX = np.where(np.arange(N) < N // 2, "F", "M")


def _truth(seed: int = 0) -> np.ndarray:
    return np.where(np.random.default_rng(seed).random(N) < 0.4, "1", "0").astype(object)


def _champion(y: np.ndarray) -> Predictions:
    """A fair model: TPR 0.7 and FPR 0.1 in both groups; scores carry the AUC."""
    rng = np.random.default_rng(1)
    hit = np.where(y == "1", rng.random(N) < 0.7, rng.random(N) < 0.1)
    score = np.clip(0.5 * hit + 0.25 + rng.normal(0, 0.1, N), 0, 1)
    return Predictions(np.where(hit, "1", "0").astype(object), score)


def _behind(champion: Predictions, y: np.ndarray) -> str:
    """The group whose TPR is already lower: missing more of its positives widens the gap (missing
    the other group's would first close it, reversing the gap's sign)."""
    return min(("F", "M"), key=lambda g: (champion.label[(g == SEX) & (y == "1")] == "1").mean())


def _relabelled(
    champion: Predictions, y: np.ndarray, *, miss: float, group: str | None = None, seed: int = 2
) -> Predictions:
    """The champion's scores (so AUC and every score rule are equal) with labels that miss a share
    of one group's positives: only the fairness rule can tell the two apart."""
    rng = np.random.default_rng(seed)
    group = group or _behind(champion, y)
    drop = (group == SEX) & (y == "1") & (champion.label == "1") & (rng.random(N) < miss)
    return Predictions(np.where(drop, "0", champion.label).astype(object), champion.score.copy())


def _gate(
    y: np.ndarray, challenger: Predictions, champion: Predictions | None, **rules: object
) -> GateDecision:
    rules.setdefault("fairness", ("sex",))
    return evaluate_gate(
        y_true=y,
        challenger=challenger,
        champion=champion,
        baseline=baseline_predictions(y, N, task="binary", positive_label="1"),
        rules=GateRules(metric="auc", **rules),  # type: ignore[arg-type]
        task="binary",
        positive_label="1",
        sensitive_values={"sex": SEX},
    )


def test_a_challenger_that_widens_the_disparity_is_rejected_with_the_numbers() -> None:
    y = _truth()
    champion = _champion(y)
    decision = _gate(y, _relabelled(champion, y, miss=0.5), champion)
    outcomes = {r.name: r for r in decision.rules}
    assert [r.name for r in decision.rules] == [
        "min_rows",
        "beats_baseline",
        "estimate",
        "fairness:sex",
    ]
    assert outcomes["estimate"].passed and outcomes["beats_baseline"].passed  # AUC is the same
    assert not outcomes["fairness:sex"].passed and not decision.promote
    (reason,) = decision.reasons
    assert reason.startswith("fairness 'sex' (equalized-odds difference, 2 groups with >= 50 rows): ")
    challenger, champ, widening = (float(v) for v in re.findall(r"[-+]?\d\.\d{3}", reason)[:3])
    assert challenger > 0.25 and champ < 0.08 and widening == pytest.approx(challenger - champ, abs=1e-3)
    assert "lower bound above margin +0.050" in reason
    assert "fairness 'sex'" in decision.summary()


def test_a_challenger_that_keeps_the_disparity_is_promoted() -> None:
    y = _truth()
    champion = _champion(y)
    decision = _gate(y, _relabelled(champion, y, miss=0.02), champion)
    assert decision.promote, decision.summary()
    fairness = decision.rules[-1]
    assert fairness.name == "fairness:sex" and fairness.passed
    assert "lower bound at or below margin +0.050" in fairness.message


def test_the_widening_is_paired_on_the_main_metrics_resamples() -> None:
    """The same predictions on the same resamples widen nothing, with no spread at all."""
    y = _truth()
    champion = _champion(y)
    same = _gate(y, Predictions(champion.label.copy(), champion.score.copy()), champion)
    assert "widening +0.000, 95% CI [+0.000, +0.000]" in same.rules[-1].message


def test_the_rule_judges_the_lower_bound_not_the_point_estimate() -> None:
    y = _truth()
    champion = _champion(y)
    challenger = _relabelled(champion, y, miss=0.3)
    # The widening's own bootstrap on the gate's seed and resample count (defaults: 500, seed 0).
    bound = disparity_batch(
        split_groups(SEX, min_rows=50),
        measure="equalized_odds",
        task="binary",
        metric="auc",
        positive_label="1",
    )
    yt = truth_array(y, task="binary")
    point = bound(yt, challenger)(np.ones((1, N)))[0] - bound(yt, champion)(np.ones((1, N)))[0]
    boot = paired_bootstrap(yt, [challenger, champion], bound, n_resamples=500, seed=0)
    ci = percentile_interval(boot[0] - boot[1], 0.95)
    assert ci is not None and 0 < ci[0] < point
    between = (ci[0] + point) / 2  # the point widening exceeds this margin, its lower bound does not
    passed = _gate(y, challenger, champion, fairness_margin=between)
    assert passed.promote
    assert f"95% CI [{ci[0]:+.3f}, {ci[1]:+.3f}]" in passed.rules[-1].message  # the same resamples
    assert not _gate(y, challenger, champion, fairness_margin=ci[0] - 0.005).promote


def test_no_champion_passes_with_its_reason() -> None:
    y = _truth()
    decision = _gate(y, _champion(y), None)
    assert decision.promote and decision.case == "no_champion"
    assert decision.rules[-1].name == "fairness:sex" and decision.rules[-1].passed
    assert decision.rules[-1].message == "fairness 'sex': no champion to compare"


def test_the_rule_is_absent_when_disabled_or_without_sensitive_columns() -> None:
    y = _truth()
    champion = _champion(y)
    unfair = _relabelled(champion, y, miss=0.5)
    for decision in (
        _gate(y, unfair, champion, fairness_margin=None),
        _gate(y, unfair, champion, fairness=()),
    ):
        assert decision.promote
        assert [r.name for r in decision.rules] == ["min_rows", "beats_baseline", "estimate"]


def test_too_few_rows_per_group_is_not_checked() -> None:
    y = _truth()
    champion = _champion(y)
    decision = _gate(y, _relabelled(champion, y, miss=0.5), champion, fairness_min_rows=1500)
    assert decision.promote
    assert decision.rules[-1].message == (
        "fairness 'sex': 0 group(s) with >= 1500 rows, 2 smaller left out; "
        "equalized-odds difference not checked"
    )


def test_demographic_parity_and_regression_gaps_are_judged_too() -> None:
    y = _truth()
    champion = _champion(y)
    lower = min(("F", "M"), key=lambda g: (champion.label[g == SEX] == "1").mean())  # widen, not close
    unfair = _relabelled(champion, y, miss=0.5, group=lower)
    dp = _gate(y, unfair, champion, fairness_measure="demographic_parity")
    assert not dp.promote and "demographic-parity difference" in dp.reasons[0]
    # regression: the challenger's errors double in group M → relative RMSE gap widens
    rng = np.random.default_rng(4)
    target = rng.normal(size=N)
    noise = rng.normal(0, 0.3, N)
    champ = Predictions(target + noise, target + noise)
    worse = target + noise * np.where(SEX == "M", 2.0, 1.0)
    decision = evaluate_gate(
        y_true=target,
        challenger=Predictions(worse, worse),
        champion=champ,
        baseline=baseline_predictions(target, N, task="regression"),
        rules=GateRules(metric="rmse", fairness=("sex",), margin=1.0),
        task="regression",
        sensitive_values={"sex": SEX},
    )
    fairness = decision.rules[-1]
    assert not fairness.passed and "relative rmse gap" in fairness.message


def test_bad_inputs_fail_loudly() -> None:
    y = _truth()
    champion = _champion(y)
    with pytest.raises(ValueError, match="no sensitive column values given for sensitive column 'sex'"):
        evaluate_gate(
            y_true=y,
            challenger=champion,
            champion=champion,
            baseline=champion,
            rules=GateRules(metric="auc", fairness=("sex",)),
            task="binary",
            positive_label="1",
        )
    with pytest.raises(ValueError, match="fairness_measure"):
        GateRules(metric="auc", fairness_measure="parity")
    with pytest.raises(ValueError, match="fairness_margin"):
        GateRules(metric="auc", fairness_margin=-0.1)


def test_gate_rules_come_from_config() -> None:
    from driftline.services.retrain_steps import gate_rules

    rules = gate_rules(
        GateConfig(fairness_margin=0.1),
        metric="auc",
        sensitive=("sex",),
        fairness=FairnessConfig(measure="demographic_parity", min_group_rows=30),
    )
    assert (rules.fairness, rules.fairness_margin, rules.fairness_measure, rules.fairness_min_rows) == (
        ("sex",),
        0.1,
        "demographic_parity",
        30,
    )
    assert (
        gate_rules(GateConfig(fairness_margin=None), metric="auc", sensitive=("sex",)).fairness_columns == ()
    )
