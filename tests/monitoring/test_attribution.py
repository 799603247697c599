"""Attribution drift: rank correlation and top-k overlap of SHAP importance, on tables and on a
real gradient-boosting champion explained by SHAP (no mocks)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from models.explain import global_importance
from models.spec import FeatureSpec
from models.train import TrainedModel, fit_model
from monitoring.attribution import (
    RANK_CORR_METRIC,
    SHARE_SHIFT_METRIC,
    TOP_K_OVERLAP_METRIC,
    AttributionDrift,
    AttributionSettings,
    batch_attribution,
    compare_importance,
)
from tests.streams import make_batch

SPEC = FeatureSpec(numeric=("x0", "x1", "x2", "x3", "x4"), categorical=("colour", "size"))
SETTINGS = AttributionSettings()


def table(**importance: float) -> pd.DataFrame:
    return pd.DataFrame({"feature": list(importance), "mean_abs_shap": list(importance.values())})


REFERENCE = table(a=8.0, b=7.0, c=6.0, d=5.0, e=4.0, f=3.0, g=2.0, h=1.0)


# --- comparing tables -----------------------------------------------------------------------------


def test_identical_tables_are_stable() -> None:
    result = compare_importance(REFERENCE, REFERENCE.copy())
    assert result.rank_correlation == pytest.approx(1.0)
    assert result.top_k_overlap == 1.0 and result.share_shift == pytest.approx(0.0)
    assert result.judged and not result.drifted
    assert result.entered == () and result.left == ()
    assert result.reference_top == ("a", "b", "c", "d", "e") == result.current_top
    assert result.summary().startswith("attribution stable: rank correlation 1.00 ≥ 0.5; top-5 overlap 1.00")


def test_the_top_feature_falling_to_the_bottom_is_drift_naming_the_features() -> None:
    current = table(a=0.5, b=7.0, c=6.0, d=5.0, e=4.0, f=3.0, g=2.0, h=1.0)
    result = compare_importance(REFERENCE, current)
    assert result.top_k_overlap == pytest.approx(0.8)  # 4 of the 5 stayed
    assert result.entered == ("f",) and result.left == ("a",)
    assert result.rank_correlation == pytest.approx(1 / 3)  # a: rank 1 → 8, seven others up by one
    assert result.drifted
    assert "rank correlation 0.33 < 0.5" in result.reasons[0]
    assert "top-5 overlap 0.80 ≥ 0.6 (entered: f; left: a)" in result.reasons[1]
    assert result.summary().startswith("attribution drift:")


def test_overlap_alone_can_decide() -> None:
    current = table(a=1.0, b=7.0, c=8.0, d=5.0, e=4.0, f=3.0, g=2.0, h=0.5)  # a swaps with c
    result = compare_importance(REFERENCE, current, top_k=2, min_rank_correlation=0.0)
    assert result.top_k_overlap == 0.5 and result.rank_correlation is not None
    assert result.rank_correlation > 0.0  # the correlation alone would not alert
    assert result.drifted and result.entered == ("c",) and result.left == ("a",)
    assert "top-2 overlap 0.50 < 0.6 (entered: c; left: a)" in result.summary()


def test_a_feature_missing_on_one_side_has_importance_zero() -> None:
    current = REFERENCE[REFERENCE["feature"] != "a"]  # e.g. dropped from the model
    result = compare_importance(REFERENCE, current)
    row = next(f for f in result.features if f.feature == "a")
    assert (row.reference, row.current, row.reference_rank, row.current_rank) == (8.0, 0.0, 1, None)
    assert result.left == ("a",) and result.drifted
    assert "not in the current table (importance 0): a" in result.notes
    assert [f.feature for f in result.features][:2] == ["a", "b"]  # by reference rank


def test_too_few_features_are_not_judged() -> None:
    # two near-equal features swapping read as correlation -1; that is noise, not drift
    result = compare_importance(table(u=0.61, v=0.55), table(u=0.58, v=0.62))
    assert result.rank_correlation is None and result.top_k_overlap is None
    assert not result.judged and not result.drifted
    assert result.summary().startswith("attribution not judged:")
    assert "2 features < min_features 5: rank correlation not judged" in result.notes
    assert "top-5 holds all 2 features: overlap not judged" in result.notes
    assert result.metrics()[RANK_CORR_METRIC] is None


def test_constant_importance_has_no_rank_correlation() -> None:
    flat = table(a=1.0, b=1.0, c=1.0, d=1.0, e=1.0, f=1.0, g=1.0, h=1.0)
    result = compare_importance(REFERENCE, flat)
    assert result.rank_correlation is None and result.top_k_overlap is not None
    assert result.judged and "one side rates every feature the same" in result.summary()


def test_metrics_and_json() -> None:
    result = compare_importance(REFERENCE, table(a=0.5, b=7.0, c=6.0, d=5.0, e=4.0, f=3.0, g=2.0, h=1.0))
    assert set(result.metrics()) == {RANK_CORR_METRIC, TOP_K_OVERLAP_METRIC, SHARE_SHIFT_METRIC}
    assert RANK_CORR_METRIC == "attribution_rank_corr" and TOP_K_OVERLAP_METRIC == "attribution_topk_overlap"
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["drifted"] and data["left"] == ["a"] and data["summary"] == result.summary()
    assert {f["feature"] for f in data["features"]} == set("abcdef")  # either side's top 5
    assert len(result.to_dict(all_features=True)["features"]) == 8


@pytest.mark.parametrize(
    ("reference", "match"),
    [
        (
            pd.DataFrame({"feature": ["a"]}),
            r"reference importance table lacks column\(s\) \['mean_abs_shap'\]",
        ),
        (table(a=1.0, b=-0.1), r"reference importance of 'b' is -0.1"),
        (table(a=1.0, b=float("nan")), r"reference importance of 'b' is nan"),
        (pd.DataFrame({"feature": ["a", "a"], "mean_abs_shap": [1.0, 2.0]}), r"lists 'a' twice"),
    ],
)
def test_bad_tables_are_named(reference: pd.DataFrame, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compare_importance(reference, REFERENCE)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_k": 0}, "top_k must be ≥ 1, got 0"),
        ({"min_rank_correlation": 1.5}, r"min_rank_correlation must be in \[-1, 1\], got 1.5"),
        ({"min_top_k_overlap": -0.1}, r"min_top_k_overlap must be in \[0, 1\], got -0.1"),
        ({"min_features": 1}, "min_features must be ≥ 2, got 1"),
    ],
)
def test_thresholds_are_checked(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compare_importance(REFERENCE, REFERENCE, **kwargs)  # type: ignore[arg-type]


# --- a real champion, real SHAP ---------------------------------------------------------------------


def fit(frame: pd.DataFrame) -> TrainedModel:
    return fit_model(frame, target="y", spec=SPEC, task="binary")


@pytest.fixture(scope="module")
def champion() -> tuple[TrainedModel, pd.DataFrame]:
    """Concept 'a' (x0, x1, colour drive y) and its importance on its training rows, as retrain logs it."""
    train = make_batch(2000, seed=0)
    model = fit(train)
    return model, global_importance(model.pipeline, train, spec=SPEC, max_rows=1000, seed=0).table


def on_batch(
    champion: tuple[TrainedModel, pd.DataFrame],
    batch: pd.DataFrame,
    *,
    rows: int = 200,
    seed: int = 0,
    settings: AttributionSettings = SETTINGS,
) -> AttributionDrift | None:
    model, reference = champion
    return batch_attribution(
        model.pipeline, batch, spec=SPEC, reference_table=reference, rows=rows, seed=seed, settings=settings
    )


def compared(
    champion: tuple[TrainedModel, pd.DataFrame], batch: pd.DataFrame, *, rows: int = 200, seed: int = 0
) -> AttributionDrift:
    result = on_batch(champion, batch, rows=rows, seed=seed)
    assert result is not None, "expected a comparison"
    return result


def test_a_batch_like_the_training_data_is_stable(champion) -> None:
    result = compared(champion, make_batch(1000, seed=1))
    assert result.judged and not result.drifted, result.summary()
    assert result.rank_correlation is not None and result.rank_correlation > 0.8
    assert result.top_k_overlap == 1.0 and result.n_rows == 200 and result.seconds is not None
    assert set(result.current_top[:3]) == {"x0", "x1", "colour"}


def test_the_sample_is_seeded_and_bounded(champion) -> None:
    batch = make_batch(1000, seed=1)
    one, two = compared(champion, batch, seed=3), compared(champion, batch, seed=3)
    assert one.features == two.features and one.n_rows == 200
    assert compared(champion, batch, rows=50).n_rows == 50


def test_a_fixed_model_does_not_see_a_label_only_concept_change(champion) -> None:
    # Same seed, same inputs, labels from x2 and x3 instead: SHAP of the champion never reads y.
    same = compared(champion, make_batch(1000, seed=1))
    changed = compared(champion, make_batch(1000, seed=1, concept="b"))
    assert changed.features == same.features and not changed.drifted


def test_a_model_refit_on_the_new_concept_ranks_features_differently(champion) -> None:
    _, reference = champion
    refits = {}
    for concept in ("a", "b"):
        batch = make_batch(2000, seed=5, concept=concept)
        table = global_importance(fit(batch).pipeline, batch, spec=SPEC, max_rows=1000, seed=0).table
        refits[concept] = compare_importance(reference, table)
    same, new = refits["a"], refits["b"]
    assert same.rank_correlation is not None and new.rank_correlation is not None
    assert new.rank_correlation < same.rank_correlation - 0.3, (same.summary(), new.summary())
    assert not same.drifted and new.drifted
    assert set(new.current_top[:2]) == {"x2", "x3"} and "colour" in new.left
    assert new.share_shift is not None and same.share_shift is not None
    assert new.share_shift > 0.5 > 0.1 > same.share_shift


def test_drivers_stuck_at_their_typical_value_lose_their_share(champion) -> None:
    same = compared(champion, make_batch(1000, seed=1))
    stuck = compared(champion, make_batch(1000, seed=1).assign(x0=0.0, x1=0.0))
    assert stuck.rank_correlation is not None and same.rank_correlation is not None
    assert stuck.rank_correlation < same.rank_correlation
    assert stuck.current_top[0] == "colour"
    # Ranks ignore how much importance moved; the share shift does not.
    assert stuck.share_shift is not None and same.share_shift is not None
    assert stuck.share_shift > 10 * same.share_shift


def test_a_tiny_batch_is_skipped_with_a_reason(champion, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="monitoring.attribution"):
        assert on_batch(champion, make_batch(29, seed=1)) is None
    assert "attribution not compared: 29 rows < min_rows 30" in caplog.text


def test_no_reference_table_is_skipped(champion, caplog) -> None:
    model, _ = champion
    with caplog.at_level(logging.WARNING, logger="monitoring.attribution"):
        got = batch_attribution(
            model.pipeline,
            make_batch(100, seed=1),
            spec=SPEC,
            reference_table=None,
            rows=50,
            seed=0,
            settings=SETTINGS,
        )
    assert got is None and "has no SHAP importance table" in caplog.text


def test_shap_failure_and_bad_tables_never_raise(champion, caplog) -> None:
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    batch = make_batch(100, seed=1)
    foreign = Pipeline([("model", DummyClassifier())]).fit(batch[["x0"]], batch["y"])
    with caplog.at_level(logging.WARNING, logger="monitoring.attribution"):
        assert on_batch(champion, batch) is not None
        model, reference = champion
        assert (
            batch_attribution(
                foreign, batch, spec=SPEC, reference_table=reference, rows=50, seed=0, settings=SETTINGS
            )
            is None
        )
        broken = reference.assign(mean_abs_shap=-1.0)
        assert (
            batch_attribution(
                model.pipeline, batch, spec=SPEC, reference_table=broken, rows=50, seed=0, settings=SETTINGS
            )
            is None
        )
    assert caplog.text.count("attribution not compared") == 2
    assert "ValueError: reference importance of" in caplog.text


def test_settings_are_checked_when_built() -> None:
    with pytest.raises(ValueError, match="min_rows must be ≥ 1, got 0"):
        AttributionSettings(min_rows=0)
    assert np.isclose(AttributionSettings().min_top_k_overlap, 0.6)
