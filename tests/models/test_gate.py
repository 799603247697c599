"""Every branch of the shadow gate, on synthetic predictions with known quality."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.bootstrap import paired_bootstrap
from models.gate import GateRules, GateVerdict, evaluate_gate
from models.metrics import baseline_predictions, metric_batch, truth_array
from models.train import Predictions

N = 2000


def _truth(n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n)


def _scores(y: np.ndarray, signal: float, seed: int) -> Predictions:
    """Binary predictions whose AUC grows with ``signal``."""
    rng = np.random.default_rng(seed)
    score = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(size=len(y)))))
    return Predictions(np.where(score >= 0.5, "1", "0").astype(object), score)


def _gate(y: np.ndarray, challenger: Predictions, champion: Predictions | None, **rules: object):
    """Binary AUC gate against the trivial baseline; ``_slices`` passes slice values."""
    rules.setdefault("metric", "auc")
    slices = rules.pop("_slices", None)
    return evaluate_gate(
        y_true=y,
        challenger=challenger,
        champion=champion,
        baseline=baseline_predictions(y, len(y), task="binary", positive_label="1"),
        rules=GateRules(**rules),  # type: ignore[arg-type]
        task="binary",
        positive_label="1",
        slice_values=slices,  # type: ignore[arg-type]
    )


def test_clearly_better_challenger_is_promoted() -> None:
    y = _truth()
    d = _gate(y, _scores(y, 1.5, 1), _scores(y, 0.7, 2))
    assert d.promote and d.verdict == "promote" and d.case == "compared"
    assert d.difference == pytest.approx(d.challenger - d.champion)
    assert 0 < d.ci_low < d.difference < d.ci_high
    assert [r.name for r in d.rules] == ["min_rows", "beats_baseline", "estimate"]  # the default rule
    assert d.reasons == [r.message for r in d.rules]  # promoted: every reason
    assert "vs champion" in d.reasons[2] and "scores at least the champion on the holdout" in d.reasons[2]
    ni = _gate(y, _scores(y, 1.5, 1), _scores(y, 0.7, 2), mode="non_inferiority")
    assert ni.promote and "lower bound above -0.010 (non-inferiority)" in ni.reasons[2]


def test_clearly_worse_challenger_is_rejected() -> None:
    y = _truth()
    d = _gate(y, _scores(y, 0.7, 1), _scores(y, 1.5, 2))
    assert not d.promote and d.verdict == "reject"
    assert d.difference < 0 and d.ci_high < 0
    assert len(d.reasons) == 1 and "scores below the champion on the holdout" in d.reasons[0]
    ni = _gate(y, _scores(y, 0.7, 1), _scores(y, 1.5, 2), mode="non_inferiority")
    assert (
        not ni.promote
        and ni.reasons == [ni.reasons[0]]
        and "not above -0.010 (non-inferiority)" in ni.reasons[0]
    )
    assert d.summary().startswith("REJECT (compared, n=2000): AUC")
    assert "\n" not in d.summary()


def test_within_margin_passes_non_inferiority_but_not_superiority() -> None:
    y = _truth()
    champion = _scores(y, 1.0, 1)
    rng = np.random.default_rng(5)
    jitter = champion.score + rng.normal(scale=0.03, size=N)  # slightly worse, paired
    challenger = Predictions(champion.label, jitter)
    ni = _gate(y, challenger, champion, mode="non_inferiority", margin=0.01)
    assert -0.01 < ni.ci_low < 0, ni.summary()
    assert ni.promote
    sup = _gate(y, challenger, champion, mode="superiority")
    assert not sup.promote
    assert sup.ci_low == ni.ci_low  # same seed, same resamples
    assert "not above +0.000 (superiority)" in sup.reasons[0]


def test_the_estimate_rule_promotes_on_the_point_difference_whatever_the_interval() -> None:
    y = _truth(300)  # a small holdout: two models of equal skill differ by noise
    champion = _scores(y, 0.5, 32)
    ahead = _gate(y, _scores(y, 0.5, 34), champion, mode="estimate")
    assert 0 < ahead.difference < 0.03 and ahead.ci_low < -0.01, ahead.summary()
    assert ahead.promote
    assert not _gate(
        y, _scores(y, 0.5, 34), champion, mode="non_inferiority"
    ).promote  # it asks for the interval
    assert "scores at least the champion on the holdout" in ahead.reasons[-1]
    behind = _gate(y, _scores(y, 0.5, 57), champion, mode="estimate")
    assert -0.01 < behind.difference < 0, behind.summary()  # within the margin, but behind
    assert not behind.promote
    assert behind.reasons == [
        f"challenger AUC {behind.challenger:.3f} vs champion {behind.champion:.3f}: difference "
        f"{behind.difference:+.3f}, 95% CI [{behind.ci_low:+.3f}, {behind.ci_high:+.3f}], "
        "the challenger scores below the champion on the holdout"
    ]


def test_too_few_rows_rejects_without_bootstrap() -> None:
    y = _truth(80)
    d = _gate(y, _scores(y, 2.0, 1), _scores(y, 0.5, 2))
    assert not d.promote
    assert [r.name for r in d.rules] == ["min_rows"]
    assert d.reasons == ["holdout has 80 labeled rows, fewer than the minimum 100"]
    assert d.ci_low is None and d.ci_high is None and d.champion is not None


def test_slice_regression_rejects() -> None:
    y = _truth()
    region = np.where(np.arange(N) < 1700, "north", "south")
    champion = _scores(y, 1.0, 1)
    good = _scores(y, 1.6, 2)
    bad = _scores(y, 0.0, 3)
    challenger = Predictions(
        np.where(region == "north", good.label, bad.label), np.where(region == "north", good.score, bad.score)
    )
    d = _gate(y, challenger, champion, slices=("region",), _slices={"region": region})
    outcomes = {r.name: r for r in d.rules}
    assert outcomes["estimate"].passed and outcomes["beats_baseline"].passed
    assert not outcomes["slice:region"].passed and not d.promote
    assert "'south' (n=300)" in d.reasons[0] and "below -0.050" in d.reasons[0]
    # the same slice, with groups below slice_min_rows, is not judged
    small = _gate(y, challenger, champion, slices=("region",), slice_min_rows=400, _slices={"region": region})
    assert small.promote and "not checked" not in small.reasons[-1]
    assert "worst of 1 groups is 'north'" in small.reasons[-1]


def test_no_champion_is_judged_against_baseline_only() -> None:
    y = _truth()
    d = _gate(y, _scores(y, 1.0, 1), None, slices=("region",), _slices={"region": np.array(["a"] * N)})
    assert d.promote and d.case == "no_champion"
    assert [r.name for r in d.rules] == ["min_rows", "beats_baseline"]
    assert d.champion is None and d.difference is None and d.ci_low is None
    assert d.baseline == 0.5
    assert "vs trivial baseline 0.500" in d.reasons[1]


def test_shuffled_label_challenger_is_no_better_than_trivial() -> None:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = make_classification(n_samples=1500, n_features=8, n_informative=4, random_state=0)
    shuffled = np.random.default_rng(0).permutation(y[:1000])
    model = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(X[:1000], shuffled)
    proba = model.predict_proba(X[1000:])[:, 1]
    challenger = Predictions(np.where(proba >= 0.5, "1", "0").astype(object), proba)
    d = _gate(y[1000:], challenger, None)
    assert not d.promote and d.case == "no_champion"
    assert [r.name for r in d.rules if not r.passed] == ["beats_baseline"]
    assert "below required +0.010" in d.reasons[0]


def test_regression_lower_is_better_and_relative_margins() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(1000, 100, N)
    champion = Predictions(y + rng.normal(0, 40, N), y + rng.normal(0, 40, N))
    better_values = y + rng.normal(0, 30, N)
    challenger = Predictions(better_values, better_values)
    baseline = baseline_predictions(y, N, task="regression")
    rules = GateRules(metric="rmse", relative_margins=True, margin=0.02, baseline_min_improvement=0.1)
    d = evaluate_gate(
        y_true=y, challenger=challenger, champion=champion, baseline=baseline, rules=rules, task="regression"
    )
    assert d.promote and not d.higher_is_better
    assert d.champion is not None and d.difference is not None and d.ci_low is not None
    assert d.challenger < d.champion and d.difference > 0 and d.ci_low > 0
    assert "RMSE (lower is better)" in d.reasons[1]


def test_multiclass_macro_f1_gate_runs() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b", "c"], N)
    champion = Predictions(np.where(rng.random(N) < 0.5, y, "a").astype(object), np.ones(N))
    challenger = Predictions(np.where(rng.random(N) < 0.8, y, "a").astype(object), np.ones(N))
    d = evaluate_gate(
        y_true=y,
        challenger=challenger,
        champion=champion,
        baseline=baseline_predictions(y, N, task="multiclass"),
        rules=GateRules(metric="macro_f1"),
        task="multiclass",
    )
    assert d.promote and d.ci_low is not None and d.ci_low > 0


def test_decision_is_json_safe_and_deterministic() -> None:
    y = _truth()
    first = _gate(y, _scores(y, 1.0, 1), _scores(y, 0.9, 2), seed=3)
    again = _gate(y, _scores(y, 1.0, 1), _scores(y, 0.9, 2), seed=3)
    data = first.to_dict()
    assert data == again.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert all(type(data[k]) is float for k in ("challenger", "champion", "ci_low"))
    assert data["reasons"] == first.reasons and data["rules"][0]["name"] == "min_rows"


def test_undefined_metric_degrades_to_rejection() -> None:
    y = np.ones(300, dtype=int)  # one class: AUC undefined on every resample
    d = _gate(y, _scores(y, 1.0, 1), _scores(y, 1.0, 2))
    assert not d.promote and d.ci_low is None
    assert "CI undefined" in d.reasons[0]
    assert json.dumps(d.to_dict(), allow_nan=False)


def test_paired_bootstrap_shares_resamples() -> None:
    y = _truth()
    p = _scores(y, 1.0, 1)
    fn = metric_batch("auc", task="binary", positive_label="1")
    boot = paired_bootstrap(truth_array(y, task="binary"), [p, p], fn, n_resamples=50, seed=0)
    assert boot.shape == (2, 50) and np.array_equal(boot[0], boot[1]) and boot[0].std() > 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("metric", "logloss"),
        ("mode", "equivalence"),
        ("margin", -0.1),
        ("min_rows", 0),
        ("n_bootstrap", 0),
        ("confidence", 1.0),
        ("seed", -1),
        ("slices", ("",)),
        ("slice_margin", -1.0),
        ("slice_min_rows", 0),
        ("baseline_min_improvement", -0.5),
    ],
)
def test_rules_validate_themselves(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"GateRules.{field}="):
        GateRules(**{"metric": "auc", field: value})  # type: ignore[arg-type]


def test_rules_to_dict() -> None:
    data = GateRules(metric="auc", slices=["origin"]).to_dict()  # type: ignore[arg-type]
    assert data["slices"] == ["origin"] and data["margin"] == 0.01
    assert json.loads(json.dumps(data)) == data


def test_input_errors() -> None:
    y = _truth()
    p = _scores(y, 1.0, 1)
    short = Predictions(p.label[:10], p.score[:10])
    with pytest.raises(ValueError, match="champion has 10 predictions for 2000 targets"):
        _gate(y, p, short)
    with pytest.raises(ValueError, match="no slice values given for slice 'region'"):
        _gate(y, p, p, slices=("region",))
    with pytest.raises(ValueError, match="not defined for binary"):
        _gate(y, p, p, metric="rmse")


def test_a_verdict_keeps_the_gate_numbers_and_says_what_the_retrain_made_of_them() -> None:
    y = _truth()
    rejected = _gate(y, _scores(y, 0.7, 1), _scores(y, 1.5, 2))
    verdict = GateVerdict.of(rejected)
    data = verdict.to_dict()
    assert (verdict.promote, verdict.verdict, data["case"]) == (False, "reject", "compared")
    assert data["summary"] == rejected.summary() and data["reasons"] == rejected.reasons
    assert data["challenger"] == rejected.to_dict()["challenger"] and "forced" not in data
    assert json.loads(json.dumps(data, allow_nan=False)) == data

    shadow = GateVerdict.of(rejected, source="shadow").to_dict()
    assert shadow["source"] == "shadow"

    from dataclasses import replace

    forced = replace(verdict, promote=True, forced=True, summary="FORCED", reasons=("FORCED",)).to_dict()
    assert (forced["promote"], forced["verdict"], forced["forced"], forced["case"]) == (
        True,
        "promote",
        True,
        "compared",
    )
    assert forced["champion"] == data["champion"]  # the gate's numbers stay beside the override


def test_a_verdict_with_no_gate_run_has_no_numbers() -> None:
    no_model = GateVerdict(False, "no_champion", "auc", "no model trained: 40 rows")
    assert no_model.to_dict() == {
        "metric": "auc",
        "n": 0,
        "rules": [],
        "promote": False,
        "verdict": "reject",
        "case": "no_champion",
        "summary": "no model trained: 40 rows",
        "reasons": [],
    }


def test_a_champion_clearly_below_the_trivial_baseline_is_no_bar_to_keep() -> None:
    """The data moved away from the champion (AUC far below 0.5): a challenger that only matches
    the trivial model is still promoted, with the reason; against a sound champion, or with no
    champion at all, the same challenger is rejected by the usual baseline bar."""
    y = _truth()
    weak = _scores(y, 0.01, 1)  # AUC 0.526: above the trivial 0.5, but its lower bound is not +0.01
    stale = _gate(y, weak, _scores(y, -1.0, 2))
    assert stale.champion is not None and stale.champion < 0.4 < 0.5 <= stale.challenger
    assert stale.promote, stale.reasons
    (beats,) = [r for r in stale.rules if r.name == "beats_baseline"]
    assert "lower bound below required +0.010" in beats.message
    assert "the champion scores clearly below the trivial baseline" in beats.message

    alone = _gate(y, weak, None)
    assert not alone.promote and [r.name for r in alone.rules if not r.passed] == ["beats_baseline"]
    sound = _gate(y, weak, _scores(y, 0.7, 2))
    assert not sound.promote and "beats_baseline" in [r.name for r in sound.rules if not r.passed]
    below = _gate(y, _scores(y, -0.05, 1), _scores(y, -1.0, 2))  # AUC 0.492: below trivial itself
    assert below.challenger < 0.5 and not below.promote
