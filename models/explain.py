"""The only SHAP adapter: global importance, plots and per-row contributions of our pipelines.

SHAP runs on the fitted estimator over the preprocessed frame (TreeExplainer for tree models,
LinearExplainer with the explained rows as background for linear ones); one-hot columns are summed
back to their original feature, which SHAP's additivity allows. Units are the model's raw output:
log-odds for gradient boosting and logistic regression, probability for random forests, target
units for regression. Binary explains the positive class; multiclass importance is the mean |SHAP|
over classes, the beeswarm shows the first class, and ``explain_rows`` each row's predicted class.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.pipeline import CATEGORICAL_BLOCK, NUMERIC_BLOCK, PREPROCESS_STEP, prepare_features
from models.spec import FeatureSpec, label_text

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)


class ExplainError(RuntimeError):
    """SHAP could not explain the model; callers log it and carry on without explanations."""


@dataclass(frozen=True, eq=False)
class Importance:
    """Mean |SHAP| per original feature (``table``, sorted descending) and what it explains."""

    table: pd.DataFrame
    n_rows: int
    outputs: tuple[str, ...]
    _explanation: Any = field(default=None, repr=False)
    _magnitude: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "n_rows": self.n_rows,
            "outputs": list(self.outputs),
            "features": [
                {"feature": str(f), "mean_abs_shap": float(v)}
                for f, v in zip(self.table["feature"], self.table["mean_abs_shap"], strict=True)
            ],
        }


def _feature_of_column(pipeline: Pipeline, n_columns: int) -> list[str]:
    """Original feature behind each preprocessed column, in output order."""
    owners: list[str] = []
    for name, transformer, columns in pipeline[PREPROCESS_STEP].transformers_:
        if name == NUMERIC_BLOCK:
            owners += [str(c) for c in transformer.get_feature_names_out(list(columns))]
        elif name == CATEGORICAL_BLOCK:
            encoder = transformer[-1]
            for i, column in enumerate(encoder.feature_names_in_):
                rare = encoder.infrequent_categories_[i]
                folded = 0 if rare is None else len(rare) - 1  # rare ones share one column
                owners += [str(column)] * (len(encoder.categories_[i]) - folded)
    if len(owners) != n_columns:
        raise ExplainError(f"mapped {len(owners)} columns back to features, expected {n_columns}")
    return owners


def _shap_values(
    pipeline: Pipeline,
    frame: pd.DataFrame,
    spec: FeatureSpec,
    positive_label: str | None,
    background: pd.DataFrame | None,
) -> tuple[np.ndarray, list[str], tuple[str, ...]]:
    """SHAP values summed per original feature: (rows, features, outputs), names, outputs."""
    try:
        # Deferred: SHAP and matplotlib load only when a model is explained.
        import shap

        X = pipeline[:-1].transform(prepare_features(frame, spec))
        model = pipeline[-1]
        if hasattr(model, "coef_"):  # linear SHAP is relative to the background's mean
            reference = (
                X if background is None else pipeline[:-1].transform(prepare_features(background, spec))
            )
            values = shap.LinearExplainer(model, reference)(X).values
        else:  # additivity check off: float32 tree thresholds trip it without being wrong
            values = shap.TreeExplainer(model)(X, check_additivity=False).values
    except ExplainError:
        raise
    except Exception as exc:  # SHAP raises many types; callers only need "could not explain"
        raise ExplainError(f"SHAP failed for {type(pipeline[-1]).__name__}: {exc}") from exc
    classes = tuple(label_text(getattr(pipeline[-1], "classes_", [])))
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values[:, :, None]
    if len(classes) == 2:  # explain the positive class only
        positive = positive_label if positive_label is not None else classes[-1]
        if values.shape[2] == 2:
            values = values[:, :, [classes.index(positive)]]
        elif positive == classes[0]:  # single-output models explain classes[1]
            values = -values
        outputs: tuple[str, ...] = (positive,)
    else:
        outputs = classes if classes else ("value",)
    owners = _feature_of_column(pipeline, values.shape[1])
    features = list(dict.fromkeys(owners))
    membership = np.array([[o == f for f in features] for o in owners], dtype=float)
    return np.einsum("rck,cf->rfk", values, membership), features, outputs


def _plot_data(frame: pd.DataFrame, features: list[str], spec: FeatureSpec) -> np.ndarray:
    # Beeswarm colours by feature value; categorical features have no order, so they stay grey.
    numeric = set(spec.numeric)
    cols = [
        pd.to_numeric(frame[f], errors="coerce").to_numpy(dtype=float)
        if f in numeric
        else np.full(len(frame), np.nan)
        for f in features
    ]
    return np.column_stack(cols) if cols else np.empty((len(frame), 0))


MIN_EXPLAINED_ROWS = 200


def rows_to_explain(max_rows: int, outputs_per_row: int) -> int:
    """Rows the global summary explains: SHAP's cost grows with rows × model outputs (one per
    class for a multiclass model), so ``max_rows`` is a budget of row-outputs, with a floor of
    :data:`MIN_EXPLAINED_ROWS` rows (or ``max_rows`` when that is smaller)."""
    return max(min(max_rows, MIN_EXPLAINED_ROWS), math.ceil(max_rows / max(outputs_per_row, 1)))


def _outputs_per_row(pipeline: Pipeline) -> int:
    """One per class for a multiclass classifier, else 1 (binary explains one margin)."""
    classes = getattr(pipeline[-1], "classes_", None)
    return len(classes) if classes is not None and len(classes) > 2 else 1


def global_importance(
    pipeline: Pipeline,
    frame: pd.DataFrame,
    *,
    spec: FeatureSpec,
    max_rows: int = 1000,
    seed: int = 0,
    positive_label: str | None = None,
) -> Importance:
    """Mean |SHAP| per original feature over a seeded sample of at most ``max_rows`` rows
    (a budget of rows × classes for a multiclass model: see :func:`rows_to_explain`).

    The sample is also the background for linear models.

    Raises:
        ExplainError: SHAP failed or the pipeline is not one ``build_pipeline`` made.
    """
    if frame.empty:
        raise ExplainError("no rows to explain")
    # Deferred: SHAP and matplotlib load only when a model is explained.
    import shap

    rows = rows_to_explain(max_rows, _outputs_per_row(pipeline))
    sample = frame.sample(n=min(rows, len(frame)), random_state=seed)
    values, features, outputs = _shap_values(pipeline, sample, spec, positive_label, None)
    magnitude = np.abs(values).mean(axis=2)  # rows x features, averaged over classes
    table = (
        pd.DataFrame({"feature": features, "mean_abs_shap": magnitude.mean(axis=0)})
        .sort_values("mean_abs_shap", ascending=False, kind="mergesort")
        .reset_index(drop=True)
    )
    data = _plot_data(sample, features, spec)
    signed = shap.Explanation(values=values[:, :, 0], data=data, feature_names=features)
    mags = shap.Explanation(values=magnitude, data=data, feature_names=features)
    logger.info("SHAP importance on %d rows, top: %s", len(sample), list(table["feature"][:3]))
    return Importance(table, len(sample), outputs, _explanation=signed, _magnitude=mags)


def top_features(importance: Importance, k: int = 5) -> list[str]:
    """Names of the ``k`` most important features."""
    return [str(f) for f in importance.table["feature"].head(k)]


def save_plots(importance: Importance, directory: Path | str, *, max_display: int = 20) -> dict[str, Path]:
    """Write ``beeswarm.png`` and ``bar.png`` into ``directory``; returns name -> path.

    Raises:
        ExplainError: plotting failed.
    """
    # Deferred: SHAP and matplotlib load only when a model is explained.
    import matplotlib.pyplot as plt
    import shap

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    paths = {"beeswarm": target / "beeswarm.png", "bar": target / "bar.png"}
    plots = {
        "beeswarm": (shap.plots.beeswarm, importance._explanation),
        "bar": (shap.plots.bar, importance._magnitude),
    }
    for name, (plot, explanation) in plots.items():
        before = set(plt.get_fignums())
        plt.figure()
        try:
            with warnings.catch_warnings():
                # categorical features have no colour value (all NaN): numpy warns, plot is fine
                warnings.simplefilter("ignore", RuntimeWarning)
                plot(explanation, max_display=max_display, show=False)
            title = f"SHAP for output {importance.outputs[0]!r}" if name == "beeswarm" else None
            plt.gca().set_title(title or "mean |SHAP| (averaged over outputs)")
            plt.gcf().savefig(paths[name], bbox_inches="tight")
        except Exception as exc:
            raise ExplainError(f"SHAP {name} plot failed: {exc}") from exc
        finally:  # close only the figures this call opened
            for number in set(plt.get_fignums()) - before:
                plt.close(number)
    return paths


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, str | bool | int | float):
        return value
    return str(value)


def explain_rows(
    pipeline: Pipeline,
    rows: pd.DataFrame,
    *,
    spec: FeatureSpec,
    top_k: int = 5,
    positive_label: str | None = None,
    background: pd.DataFrame | None = None,
) -> list[list[dict[str, Any]]]:
    """Top ``top_k`` contributions per row: ``{feature, value, contribution}`` by |contribution|.

    ``value`` is the row's original (pre-encoding) value. Multiclass rows explain their
    predicted class. Linear models need ``background`` (e.g. a training sample) to be
    meaningful; without it the rows themselves are used and a warning is logged.

    Raises:
        ExplainError: SHAP failed.
    """
    if rows.empty:
        return []
    if background is None and hasattr(pipeline[-1], "coef_"):
        logger.warning(
            "explaining a linear model without background: contributions are "
            "relative to the mean of the explained rows"
        )
    values, features, outputs = _shap_values(pipeline, rows, spec, positive_label, background)
    if values.shape[2] > 1:
        predicted = np.asarray(label_text(pipeline.predict(prepare_features(rows, spec))))
        picks = np.array([outputs.index(p) for p in predicted])
        per_row = values[np.arange(len(rows)), :, picks]
    else:
        per_row = values[:, :, 0]
    result: list[list[dict[str, Any]]] = []
    for i in range(len(rows)):
        order = np.argsort(-np.abs(per_row[i]), kind="mergesort")[:top_k]
        result.append(
            [
                {
                    "feature": features[j],
                    "value": _json_value(rows[features[j]].iloc[i]),
                    "contribution": float(per_row[i, j]),
                }
                for j in order
            ]
        )
    return result
