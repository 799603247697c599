"""Retrain policy: every trigger, every gate, and the reasons they leave."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitoring.policy import BatchSignal, RetrainDecision, decide_retrain


def signals(*drifts: bool | None, metric: float | None = None) -> list[BatchSignal]:
    """Batches b0..bn with the given drift flags; the newest carries ``metric``."""
    out = [
        BatchSignal(f"b{i}", d, None if d is None else (0.6 if d else 0.1), None, 100)
        for i, d in enumerate(drifts)
    ]
    if out:
        last = out[-1]
        out[-1] = BatchSignal(last.batch_id, last.drift_detected, last.drift_share, metric, 812)
    return out


def decide(history: list[BatchSignal], **kwargs: Any) -> RetrainDecision:
    options: dict[str, Any] = {
        "champion_metric": 0.652,
        "higher_is_better": True,
        "batches_since_retrain": 5,
        "labeled_rows_since_retrain": 2_000,
        "metric_name": "AUC",
    }
    options.update(kwargs)
    return decide_retrain(history, **options)


def test_drift_in_k_of_m_batches_triggers() -> None:
    decision = decide(signals(True, False, True, metric=0.65))

    assert decision.retrain and decision.triggers == ("drift",)
    assert decision.reasons[0].startswith("dataset drift in 2 of the last 3 batches (b0, b2)")
    assert "(rule: at least 2 of 3)" in decision.reasons[0]


def test_drift_outside_the_window_does_not_count() -> None:
    decision = decide(signals(True, True, False, False, None, metric=0.65))

    assert not decision.retrain and decision.triggers == ()
    assert decision.reasons[0] == (
        "no drift trigger: dataset drift in 0 of the last 3 batches, 1 without a drift result "
        "(needs at least 2 of 3)"
    )


def test_short_history_uses_what_exists() -> None:
    decision = decide(signals(True, metric=None), drift_k=1, drift_m=3)

    assert decision.triggers == ("drift",)
    assert "the only batch (fewer than 3 so far)" in decision.reasons[0]


def test_performance_drop_beyond_tolerance_triggers() -> None:
    decision = decide(signals(False, False, metric=0.612))

    assert decision.retrain and decision.triggers == ("performance",)
    assert decision.reasons[0] == (
        "AUC 0.612 on batch b1 (812 labeled rows) is 6.1% below the champion's holdout 0.652 (tolerance 2%)"
    )


def test_performance_within_tolerance_and_reasons_say_why_not() -> None:
    decision = decide(signals(False, True, metric=0.645))

    assert not decision.retrain and decision.triggers == ()
    assert decision.reasons[0].startswith("no drift trigger: dataset drift in 1 of the last 2")
    assert decision.reasons[1] == (
        "no performance trigger: AUC 0.645 on batch b1 (812 labeled rows) is 1.1% below the "
        "champion's holdout 0.652, within tolerance 2%"
    )


def test_lower_is_better_metric_uses_relative_increase() -> None:
    worse = decide(
        signals(False, metric=10.5), champion_metric=10.0, higher_is_better=False, metric_name="RMSE"
    )
    better = decide(
        signals(False, metric=9.0), champion_metric=10.0, higher_is_better=False, metric_name="RMSE"
    )

    assert worse.triggers == ("performance",)
    assert (
        "RMSE 10.500 on batch b0 (812 labeled rows) is 5% above the champion's holdout 10.000"
        in (worse.reasons[0])
    )
    assert better.triggers == ()
    assert "at least as good as the champion's holdout 10.000" in better.reasons[1]


def test_no_champion_metric_or_no_realized_metric_skips_performance() -> None:
    no_holdout = decide(signals(False, metric=0.5), champion_metric=None)
    no_labels = decide(signals(False, metric=None))

    assert no_holdout.triggers == () and "the champion has no holdout AUC" in no_holdout.reasons[1]
    assert no_labels.triggers == ()
    assert "batch b0 has no realized AUC yet (812 labeled rows)" in no_labels.reasons[1]


def test_cooldown_blocks_a_fired_trigger() -> None:
    decision = decide(signals(True, True, metric=0.5), batches_since_retrain=1, cooldown_batches=2)

    assert not decision.retrain
    assert decision.triggers == ("drift", "performance")
    assert decision.reasons[0] == "cooldown: the last retrain was 1 batch ago, the policy waits 2 batches"
    assert decide(signals(True, True), batches_since_retrain=None).retrain  # never retrained


def test_min_labeled_rows_blocks_a_fired_trigger() -> None:
    decision = decide(signals(True, True), labeled_rows_since_retrain=320, min_labeled_rows=500)

    assert not decision.retrain and decision.triggers == ("drift",)
    assert decision.reasons[0] == "only 320 labeled rows since the last retrain (need 500)"


def test_no_champion_trains_once_enough_labels() -> None:
    ready = decide([], has_champion=False, labeled_rows_since_retrain=1_200, batches_since_retrain=0)
    waiting = decide([], has_champion=False, labeled_rows_since_retrain=120)

    assert ready.retrain and ready.triggers == ()
    assert ready.reasons == ("no champion yet: training the first model on 1,200 labeled rows",)
    assert not waiting.retrain
    assert waiting.reasons == ("no champion yet, but only 120 labeled rows (need 500)",)


def test_empty_history_with_champion_does_nothing() -> None:
    decision = decide([])
    assert not decision.retrain
    assert decision.reasons == (
        "no drift trigger: no batches processed yet",
        "no performance check: no batches processed yet",
    )


def test_to_dict_is_json_safe() -> None:
    decision = decide(signals(True, True, metric=0.6))
    payload = decision.to_dict()
    assert json.loads(json.dumps(payload)) == {
        "retrain": True,
        "reasons": list(decision.reasons),
        "triggers": ["drift", "performance"],
    }
    assert signals(True)[0].to_dict()["batch_id"] == "b0"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"drift_k": 0}, "drift_k"),
        ({"drift_k": 3, "drift_m": 2}, "drift_m"),
        ({"performance_tolerance": -0.1}, "performance_tolerance"),
        ({"cooldown_batches": -1}, "cooldown_batches"),
        ({"min_labeled_rows": -1}, "min_labeled_rows"),
    ],
)
def test_invalid_parameters_raise(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decide([], **kwargs)


def test_late_labels_judge_the_newest_measured_batch_since_the_last_retrain() -> None:
    history = [
        BatchSignal("old", False, 0.1, 0.40, 800),  # before the last retrain: another champion
        BatchSignal("b1", False, 0.1, 0.60, 800),
        BatchSignal("b2", False, 0.1, None, 0),  # labels not here yet
    ]
    fired = decide(history, batches_since_retrain=2)
    assert fired.triggers == ("performance",)
    assert "AUC 0.600 on batch b1" in " ".join(fired.reasons)

    recovered = [*history[:1], BatchSignal("b1", False, 0.1, 0.66, 800), history[2]]
    assert decide(recovered, batches_since_retrain=2).triggers == ()


def unlabeled(batch_id: str, estimate: float | None) -> BatchSignal:
    """A batch whose labels have not arrived, with the champion's estimated metric."""
    return BatchSignal(batch_id, False, 0.1, None, 0, estimated_metric=estimate)


def test_an_estimate_is_ignored_unless_the_policy_uses_it() -> None:
    history = [BatchSignal("b0", False, 0.1, 0.65, 800), unlabeled("b1", 0.58)]

    decision = decide(history)

    assert decision.triggers == ()
    assert "no performance trigger: AUC 0.650 on batch b0 (800 labeled rows)" in decision.reasons[1]


def test_with_use_estimate_a_batch_without_labels_fires_on_its_estimate() -> None:
    history = [BatchSignal("b0", False, 0.1, 0.65, 800), unlabeled("b1", 0.60)]

    decision = decide(history, use_estimate=True)

    assert decision.retrain and decision.triggers == ("performance",)
    assert decision.reasons[0] == (
        "estimated AUC 0.600 on batch b1 (no realized value yet, 0 labeled rows) is 8% below the "
        "champion's holdout 0.652 (tolerance 2%)"
    )


def test_a_realized_value_wins_over_the_estimate_of_the_same_batch() -> None:
    labeled = BatchSignal("b1", False, 0.1, 0.65, 800, estimated_metric=0.55)

    decision = decide([labeled], use_estimate=True)

    assert decision.triggers == ()
    assert decision.reasons[1] == (
        "no performance trigger: AUC 0.650 on batch b1 (800 labeled rows) is 0.3% below the "
        "champion's holdout 0.652, within tolerance 2%"
    )


def test_an_estimate_within_tolerance_and_a_batch_with_neither_say_so() -> None:
    within = decide([unlabeled("b0", 0.66)], use_estimate=True)
    neither = decide([unlabeled("b0", None)], use_estimate=True)

    assert within.triggers == ()
    assert within.reasons[1] == (
        "no performance trigger: estimated AUC 0.660 on batch b0 (no realized value yet, 0 labeled "
        "rows) is at least as good as the champion's holdout 0.652"
    )
    assert neither.reasons[1] == (
        "no performance check: batch b0 has no realized AUC yet (0 labeled rows) and no estimate"
    )
    assert unlabeled("b0", 0.66).to_dict()["estimated_metric"] == 0.66


def test_policy_inputs_carry_the_stored_estimate_and_the_config_key_turns_it_on(tmp_path: Any) -> None:
    from driftline.core.config import parse_config
    from driftline.services.signals import policy_inputs
    from driftline.services.workspace import Workspace

    raw = {"project": "shop", "data": {"target": "y"}, "storage": {"root": str(tmp_path)}}
    ws = Workspace(parse_config({**raw, "policy": {"use_estimate": True}}, base_dir=tmp_path))
    row = {"sha256": "0" * 64, "source": "b.csv", "raw_path": "b.csv", "status": "accepted", "rows": 10}
    ws.state.add_batch(batch_id="b1", **row)
    ws.state.update_batch("b1", estimated_metric=0.58, drift_detected=False)

    inputs = policy_inputs(ws, champion_metric=0.652, has_champion=True)
    decision = decide_retrain(
        **inputs, higher_is_better=True, min_labeled_rows=0, use_estimate=ws.config.policy.use_estimate
    )

    assert inputs["history"][0].estimated_metric == 0.58
    stored = ws.state.get_batch("b1")
    assert stored is not None and stored.estimated_metric == 0.58
    assert decision.triggers == ("performance",)
    assert "estimated metric 0.580 on batch b1" in decision.reasons[0]
    assert parse_config(raw, base_dir=tmp_path).policy.use_estimate is False


def small(batch_id: str, metric: float, rows: int = 30) -> BatchSignal:
    """A 30-row batch, labeled, with its realized macro-F1."""
    return BatchSignal(batch_id, False, 0.0, metric, rows)


def test_small_batches_are_judged_pooled_until_they_hold_min_labeled_rows() -> None:
    steady = [small(f"b{i}", m) for i, m in enumerate([0.47, 0.47, 0.48, 0.46, 0.47, 0.48, 0.30])]
    decision = decide(
        steady, champion_metric=0.45, min_labeled_rows=200, batches_since_retrain=7, metric_name="F1"
    )
    # alone, the newest 30 rows (0.30) are 33% below the champion; pooled over 210 rows they are not
    assert decision.triggers == ()
    assert decision.reasons[1] == (
        "no performance trigger: F1 0.447 on the newest 7 batches (b0, b1, b2, b3, b4, b5, b6) "
        "(210 labeled rows) is 0.6% below the champion's holdout 0.450, within tolerance 2%"
    )
    fallen = [small(f"b{i}", 0.30) for i in range(7)]
    dropped = decide(fallen, champion_metric=0.45, min_labeled_rows=200, batches_since_retrain=7)
    assert dropped.triggers == ("performance",) and "on the newest 7 batches" in dropped.reasons[0]
    large = decide(
        [small("b0", 0.45, 800), small("b1", 0.30, 800)], champion_metric=0.45, min_labeled_rows=200
    )
    assert large.triggers == ("performance",) and "on batch b1 (800 labeled rows)" in large.reasons[0]


def test_where_batches_are_small_a_retrain_needs_the_cooldowns_worth_of_rows_not_more() -> None:
    drifting = [BatchSignal(f"b{i}", True, 0.75, None, 30) for i in range(6)]
    ready = decide(drifting, labeled_rows_since_retrain=60, min_labeled_rows=200, cooldown_batches=2)
    assert ready.retrain and ready.triggers == ("drift",)
    waiting = decide(drifting, labeled_rows_since_retrain=45, min_labeled_rows=200, cooldown_batches=2)
    assert not waiting.retrain
    assert waiting.reasons[0] == (
        "only 45 labeled rows since the last retrain (need 60: 2 batches of ~30 labeled rows, "
        "below policy.min_labeled_rows 200)"
    )
    large = [BatchSignal(f"b{i}", True, 0.75, None, 300) for i in range(6)]
    held = decide(large, labeled_rows_since_retrain=150, min_labeled_rows=200, cooldown_batches=2)
    assert held.reasons[0] == "only 150 labeled rows since the last retrain (need 200)"
