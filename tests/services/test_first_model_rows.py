"""`window.first_model_rows`: the row minimums of a retrain while no model has beaten the baseline."""

from __future__ import annotations

from driftline.core.config import WindowConfig
from driftline.services.training import first_model_minimums


def test_unset_it_is_the_usual_minimums_and_set_it_holds_a_third_out() -> None:
    assert WindowConfig().first_model_rows is None
    assert first_model_minimums(WindowConfig()) == (200, 100)
    assert first_model_minimums(WindowConfig(min_train_rows=300, min_holdout_rows=200)) == (300, 200)
    assert first_model_minimums(WindowConfig(first_model_rows=60)) == (40, 20)
    # never above the usual minimums, whichever is lower
    assert first_model_minimums(WindowConfig(first_model_rows=90, min_train_rows=50)) == (50, 30)
    assert first_model_minimums(WindowConfig(first_model_rows=2)) == (1, 1)
