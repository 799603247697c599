"""Live shadow mode: the labeled rows that champion and challenger both scored, side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from driftline.core.names import CHALLENGER, CHAMPION
from models.train import Predictions


@dataclass(frozen=True)
class ShadowRows:
    """True labels and both versions' logged predictions on the same rows."""

    y: np.ndarray
    champion: Any
    challenger: Any
    classes: tuple[str, ...] | None
    positive_label: str | None


def shadow_rows(
    joined: pd.DataFrame, *, champion: str, challenger: str, task: str, positive_label: str | None = None
) -> ShadowRows | None:
    """Pair the prediction-log rows (with labels) of `champion` and the shadow `challenger`.

    Args:
        joined: prediction log joined with labels (`StateStore.predictions_with_labels`).

    Returns:
        None when no labeled row was scored by both.
    """

    if joined.empty:
        return None
    champ = joined[(joined.role == CHAMPION) & (joined.model_version == champion)]
    chal = joined[(joined.role == CHALLENGER) & (joined.model_version == challenger)]
    both = champ.merge(chal, on=["batch_id", "row_key"], suffixes=("_champ", "_chal"))
    if both.empty:
        return None
    regression = task == "regression"
    y = (
        both["label_champ"].astype(float).to_numpy()
        if regression
        else both["label_champ"].to_numpy(dtype=object)
    )

    def preds(suffix: str) -> Predictions:
        score = both[f"score{suffix}"].to_numpy(dtype=float)
        label = score if regression else both[f"prediction{suffix}"].to_numpy(dtype=object)
        return Predictions(label=label, score=score, proba=None)

    classes = None if regression else tuple(sorted(set(y)))
    positive = (positive_label or classes[-1]) if task == "binary" and classes else None
    return ShadowRows(y, preds("_champ"), preds("_chal"), classes, positive)
