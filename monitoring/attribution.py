"""Attribution drift: does the model still rely on the same features?

Two global importance tables (``feature``, ``mean_abs_shap``, as ``models.explain`` makes them and
retrain logs as ``shap/importance.csv``) are compared by Spearman rank correlation over the union
of their features (a feature one side lacks has importance 0 there) and by the overlap of their
top-k features; how far the features' shares of the total importance moved is reported alongside.
Per batch, the champion's importance on a sample of the batch is compared with its importance on
its training data; ``driftline models --compare`` compares two versions.

A fixed model's SHAP values depend on the inputs only, never on the labels: a batch's attribution
moves when the features the model relies on change distribution, not when only the concept does.
A concept change shows as attribution drift between the old model and one refit on the new data.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from models.explain import global_importance

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from models.spec import FeatureSpec

logger = logging.getLogger(__name__)

FEATURE, IMPORTANCE = "feature", "mean_abs_shap"
RANK_CORR_METRIC = "attribution_rank_corr"
TOP_K_OVERLAP_METRIC = "attribution_topk_overlap"
SHARE_SHIFT_METRIC = "attribution_share_shift"


@dataclass(frozen=True)
class AttributionSettings:
    """Thresholds of the comparison (``attribution:`` in driftline.yaml); checked when built.

    Raises:
        ValueError: a value out of range, naming it.
    """

    top_k: int = 5
    min_rank_correlation: float = 0.5
    min_top_k_overlap: float = 0.6
    min_rows: int = 30
    min_features: int = 5

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError(f"top_k must be ≥ 1, got {self.top_k}")
        if not -1.0 <= self.min_rank_correlation <= 1.0:
            raise ValueError(f"min_rank_correlation must be in [-1, 1], got {self.min_rank_correlation}")
        if not 0.0 <= self.min_top_k_overlap <= 1.0:
            raise ValueError(f"min_top_k_overlap must be in [0, 1], got {self.min_top_k_overlap}")
        if self.min_rows < 1:
            raise ValueError(f"min_rows must be ≥ 1, got {self.min_rows}")
        if self.min_features < 2:
            raise ValueError(f"min_features must be ≥ 2, got {self.min_features}")


@dataclass(frozen=True)
class FeatureAttribution:
    """One feature on both sides: importance (0 where a side lacks it) and 1-based rank (None then)."""

    feature: str
    reference: float
    current: float
    reference_rank: int | None
    current_rank: int | None


@dataclass(frozen=True)
class AttributionDrift:
    """The comparison of a current importance table with a reference one, with its reasons.

    ``rank_correlation`` is None when not judged (fewer than ``min_features`` features, or one
    side gives every feature the same importance), ``top_k_overlap`` when the top-k holds every
    feature; a None measure takes no part in the decision. ``top_k`` is the k used: the
    configured one, or the number of features when there are fewer.
    """

    rank_correlation: float | None
    top_k_overlap: float | None
    top_k: int
    reference_top: tuple[str, ...]
    current_top: tuple[str, ...]
    entered: tuple[str, ...]  # in the current top-k, not in the reference's
    left: tuple[str, ...]  # in the reference top-k, not in the current one
    judged: bool  # False: neither measure could move (too few features); then not drifted
    drifted: bool
    reasons: tuple[str, ...]
    min_rank_correlation: float
    min_top_k_overlap: float
    features: tuple[FeatureAttribution, ...]  # by reference rank, then current rank
    # Informational, not part of the decision: half the L1 distance between the two sides' shares
    # of total importance (0 same shares, 1 disjoint). Ranks ignore size; this does not.
    share_shift: float | None = None
    n_rows: int | None = None  # rows explained for the current side (None: a stored table)
    seconds: float | None = None  # time SHAP took on them
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line, e.g. ``attribution drift: rank correlation 0.21 < 0.5; top-5 overlap ...``."""
        head = "attribution drift" if self.drifted else "attribution stable"
        head = head if self.judged else "attribution not judged"
        rows = f" on {self.n_rows} rows" if self.n_rows is not None else ""
        shift = [] if self.share_shift is None else [f"importance share shift {self.share_shift:.2f}"]
        return f"{head}{rows}: " + "; ".join([*self.reasons, *shift, *self.notes])

    def to_dict(self, *, all_features: bool = False) -> dict[str, Any]:
        """JSON-safe form; ``features`` lists the top-k features of either side unless ``all_features``."""
        data = asdict(self)
        if not all_features:
            shown = set(self.reference_top) | set(self.current_top)
            data["features"] = [f for f in data["features"] if f["feature"] in shown]
        data["summary"] = self.summary()
        return data

    def metrics(self) -> dict[str, float | None]:
        """MLflow metrics of the monitoring run (None is not logged)."""
        return {
            RANK_CORR_METRIC: self.rank_correlation,
            TOP_K_OVERLAP_METRIC: self.top_k_overlap,
            SHARE_SHIFT_METRIC: self.share_shift,
        }


def _importances(table: pd.DataFrame, side: str) -> pd.Series:
    missing = [c for c in (FEATURE, IMPORTANCE) if c not in table.columns]
    if missing:
        raise ValueError(f"{side} importance table lacks column(s) {missing}; has {list(table.columns)}")
    values = pd.to_numeric(table[IMPORTANCE], errors="coerce")
    series = pd.Series(values.to_numpy(dtype=float), index=table[FEATURE].astype(str))
    bad = series[~series.map(math.isfinite) | (series < 0)]
    if not bad.empty:
        raise ValueError(
            f"{side} importance of {bad.index[0]!r} is {bad.iloc[0]}; expected a finite value ≥ 0"
        )
    if series.index.has_duplicates:
        raise ValueError(
            f"{side} importance table lists {series.index[series.index.duplicated()][0]!r} twice"
        )
    return series


def _order(values: pd.Series) -> list[str]:
    # most important first; ties by name so the top-k does not depend on table order
    return sorted(values.index, key=lambda f: (-values[f], f))


def _ranks(values: pd.Series, present: pd.Index) -> dict[str, int]:
    return {f: i + 1 for i, f in enumerate(_order(values[values.index.isin(present)]))}


def _spearman(a: pd.Series, b: pd.Series) -> float | None:
    if len(a) < 2 or a.nunique() < 2 or b.nunique() < 2:
        return None
    # Deferred: scipy loads only for attribution drift.
    from scipy.stats import spearmanr

    value = float(spearmanr(a.to_numpy(), b.to_numpy()).statistic)
    return value if math.isfinite(value) else None


def _share_shift(a: pd.Series, b: pd.Series) -> float | None:
    total_a, total_b = float(a.sum()), float(b.sum())
    if total_a <= 0 or total_b <= 0:
        return None
    return float((a / total_a - b / total_b).abs().sum() / 2)


def _names(features: tuple[str, ...]) -> str:
    return ", ".join(features) if features else "none"


def compare_importance(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    top_k: int = 5,
    min_rank_correlation: float = 0.5,
    min_top_k_overlap: float = 0.6,
    min_features: int = 5,
) -> AttributionDrift:
    """Compare two importance tables (``feature``, ``mean_abs_shap``).

    Drifted when the rank correlation is below ``min_rank_correlation`` or the top-k overlap
    (shared top-k features / k) below ``min_top_k_overlap``. With fewer than ``min_features``
    features the rank correlation is not judged (two features give only ±1: a swap of two
    near-equal ones reads as -1); with at most ``top_k`` features the overlap is not (it is 1).

    Raises:
        ValueError: a table lacks a column, lists a feature twice or holds a negative or
            non-finite importance; a threshold is out of range; both tables are empty.
    """
    AttributionSettings(
        top_k=top_k,
        min_rank_correlation=min_rank_correlation,
        min_top_k_overlap=min_top_k_overlap,
        min_features=min_features,
    )
    ref_raw, cur_raw = _importances(reference, "reference"), _importances(current, "current")
    union = list(dict.fromkeys([*ref_raw.index, *cur_raw.index]))
    if not union:
        raise ValueError("both importance tables are empty")
    ref = ref_raw.reindex(union, fill_value=0.0)
    cur = cur_raw.reindex(union, fill_value=0.0)
    k = min(top_k, len(union))
    ref_top, cur_top = tuple(_order(ref)[:k]), tuple(_order(cur)[:k])
    entered = tuple(f for f in cur_top if f not in ref_top)
    left = tuple(f for f in ref_top if f not in cur_top)

    notes: list[str] = []
    corr = _spearman(ref, cur) if len(union) >= min_features else None
    if len(union) < min_features:
        notes.append(f"{len(union)} features < min_features {min_features}: rank correlation not judged")
    elif corr is None:
        notes.append("rank correlation undefined: one side rates every feature the same")
    overlap = (k - len(entered)) / k if k < len(union) else None
    if overlap is None:
        notes.append(f"top-{top_k} holds all {len(union)} features: overlap not judged")
    only = [
        (side, sorted(set(union) - set(raw.index)))
        for side, raw in (("reference", ref_raw), ("current", cur_raw))
    ]
    notes += [f"not in the {side} table (importance 0): {', '.join(names)}" for side, names in only if names]

    corr_low = corr is not None and corr < min_rank_correlation
    overlap_low = overlap is not None and overlap < min_top_k_overlap
    reasons = []
    if corr is not None:
        reasons.append(f"rank correlation {corr:.2f} {'<' if corr_low else '≥'} {min_rank_correlation:g}")
    if overlap is not None:
        moved = f" (entered: {_names(entered)}; left: {_names(left)})" if entered or left else ""
        reasons.append(
            f"top-{k} overlap {overlap:.2f} {'<' if overlap_low else '≥'} {min_top_k_overlap:g}{moved}"
        )
    ref_rank, cur_rank = _ranks(ref, ref_raw.index), _ranks(cur, cur_raw.index)
    big = len(union) + 1
    rows = sorted(
        (
            FeatureAttribution(f, float(ref[f]), float(cur[f]), ref_rank.get(f), cur_rank.get(f))
            for f in union
        ),
        key=lambda r: (r.reference_rank or big, r.current_rank or big, r.feature),
    )
    return AttributionDrift(
        rank_correlation=corr,
        top_k_overlap=overlap,
        top_k=k,
        reference_top=ref_top,
        current_top=cur_top,
        entered=entered,
        left=left,
        judged=bool(reasons),
        drifted=corr_low or overlap_low,
        reasons=tuple(reasons),
        min_rank_correlation=min_rank_correlation,
        min_top_k_overlap=min_top_k_overlap,
        features=tuple(rows),
        share_shift=_share_shift(ref, cur),
        notes=tuple(notes),
    )


def batch_attribution(
    pipeline: Pipeline,
    frame: pd.DataFrame,
    *,
    spec: FeatureSpec,
    reference_table: pd.DataFrame | None,
    rows: int,
    seed: int,
    settings: AttributionSettings,
) -> AttributionDrift | None:
    """The champion's SHAP importance on a seeded sample of at most ``rows`` rows of the batch,
    compared with ``reference_table`` (its importance on its training data).

    Optional: returns None, with the reason logged as a warning, when the batch has fewer than
    ``settings.min_rows`` rows, there is no usable reference table, or SHAP fails. Never raises.
    """
    if len(frame) < settings.min_rows:
        logger.warning("attribution not compared: %d rows < min_rows %d", len(frame), settings.min_rows)
        return None
    if reference_table is None or reference_table.empty:
        logger.warning("attribution not compared: the model has no SHAP importance table")
        return None
    try:
        started = time.perf_counter()
        importance = global_importance(pipeline, frame, spec=spec, max_rows=rows, seed=seed)
        seconds = time.perf_counter() - started
        result = compare_importance(
            reference_table,
            importance.table,
            top_k=settings.top_k,
            min_rank_correlation=settings.min_rank_correlation,
            min_top_k_overlap=settings.min_top_k_overlap,
            min_features=settings.min_features,
        )
    except Exception as err:  # optional step: SHAP or a bad stored table must not fail a batch
        logger.warning("attribution not compared: %s: %s", type(err).__name__, err)
        return None
    logger.info("attribution on %d rows in %.2fs: %s", importance.n_rows, seconds, result.summary())
    return replace(result, n_rows=importance.n_rows, seconds=seconds)
