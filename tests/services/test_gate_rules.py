"""The gate's rules from the config: margins of error metrics follow the target's scale."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.core.config import GateConfig
from driftline.services.retrain_steps import gate_rules
from models.gate import evaluate_gate
from models.train import Predictions


def _regression(values: np.ndarray) -> Predictions:
    return Predictions(values, values)


@pytest.mark.parametrize("unit", [0.01, 1.0, 1000.0])
def test_an_rmse_gate_decides_the_same_in_any_unit(unit: float) -> None:
    """In any unit: the same models get the same verdict. The challenger's RMSE is 0.5% above the
    champion's, inside the 1% non-inferiority margin (`gate.margin`'s default). With the margin in
    metric units (0.01) it passed at unit 0.01 and failed at 1 and 1000."""
    rng = np.random.default_rng(0)
    y = rng.normal(40.0, 10.0, 2_000)
    champion = y + rng.normal(0.0, 5.0, y.size)
    challenger = y + (champion - y) * 1.005  # the champion's errors, 0.5% larger
    decision = evaluate_gate(
        y_true=y * unit,
        challenger=_regression(challenger * unit),
        champion=_regression(champion * unit),
        baseline=_regression(np.full(y.size, y.mean() * unit)),
        rules=gate_rules(GateConfig(rule="non_inferiority"), metric="rmse"),
        task="regression",
    )
    assert decision.promote, decision.summary()


def test_bounded_metrics_keep_their_margins_in_metric_units() -> None:
    assert not gate_rules(GateConfig(), metric="auc").relative_margins
    assert gate_rules(GateConfig(), metric="mae").relative_margins
