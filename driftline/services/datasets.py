"""Row keys, labels and the labeled frames a retrain trains and judges on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from driftline.core.batch_io import read_table
from driftline.store.state import BatchRow, StateStore

ROW_KEY = "__row_key"
BATCH_ID = "__batch_id"


def text_values(values: pd.Series) -> pd.Series:
    """Labels as text, the same way for labels and predictions: 1.0 → "1", True → "True"."""
    if pd.api.types.is_float_dtype(values):
        # Vectorised: whole floats lose their ".0" (an int column with gaps arrives as float).
        whole = values.notna() & (values % 1 == 0)
        out = values.astype(str)
        out[whole] = values[whole].astype("int64").astype(str)
        return out
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "integer", "boolean"):
        return values.astype(str)

    def one(v: object) -> str:
        if isinstance(v, float | np.floating) and float(v).is_integer():
            return str(int(v))
        return str(v)

    return values.map(one).astype(str)


def row_keys(frame: pd.DataFrame, *, id_column: str | None) -> pd.Series:
    """The prediction log's row key: the id column as text, else the row position."""
    if id_column and id_column in frame.columns:
        return text_values(frame[id_column]).reset_index(drop=True)
    return pd.Series(np.arange(len(frame)).astype(str))


def labels_of(frame: pd.DataFrame, *, batch_id: str, target: str, id_column: str | None) -> pd.DataFrame:
    """(batch_id, row_key, label) of the rows whose target is present."""
    keys = row_keys(frame, id_column=id_column)
    present = frame[target].notna().to_numpy()
    return pd.DataFrame(
        {
            "batch_id": batch_id,
            "row_key": keys[present].to_numpy(),
            "label": text_values(frame.loc[present, target]).to_numpy(),
        }
    )


def labeled_predictions(log_rows: Sequence[pd.DataFrame], labels: pd.DataFrame) -> pd.DataFrame:
    """Prediction-log rows of one batch with their labels attached (inner join on row key).

    Both sides come from the same batch, so a plain index lookup on the row key is enough
    (a keyed merge on two text columns cost ~15x more at 1M rows).
    """
    if not log_rows or labels.empty:
        return pd.DataFrame()
    by_key = pd.Series(labels["label"].to_numpy(), index=labels["row_key"].to_numpy())
    by_key = by_key[~by_key.index.duplicated(keep="last")]
    parts = []
    for rows in log_rows:
        found = by_key.reindex(rows["row_key"].to_numpy())
        mask = found.notna().to_numpy()
        parts.append(rows.loc[mask].assign(label=found.to_numpy()[mask]))
    return pd.concat(parts, ignore_index=True)


def labeled_frame(
    state: StateStore, batches: Sequence[BatchRow], *, target: str, id_column: str | None, regression: bool
) -> pd.DataFrame:
    """Rows of `batches` joined with their labels; the target column holds the labels
    (text for classification, float for regression) and `__batch_id` the batch."""
    parts = []
    for batch in batches:
        frame = read_table(Path(batch.raw_path))
        frame = frame.drop(columns=[target], errors="ignore")
        frame[ROW_KEY] = row_keys(frame, id_column=id_column).to_numpy()
        labels = state.labels_for(batch.batch_id).rename(columns={"row_key": ROW_KEY, "label": target})
        joined = frame.merge(labels, on=ROW_KEY, how="inner")
        joined["__batch_id"] = batch.batch_id
        parts.append(joined)
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    if regression:
        out[target] = out[target].astype(float)
    return out


def label_weights(state: StateStore, frame: pd.DataFrame, *, review_weight: float) -> np.ndarray | None:
    """Training weights of a `labeled_frame`: `review_weight` for rows a person labeled in review
    (``labels.source == "review"``), 1 for the rest; None when no row is a reviewed one (or the
    weight is 1), so such a fit stays exactly the unweighted one."""
    if frame.empty or review_weight == 1.0 or not {ROW_KEY, BATCH_ID} <= set(frame.columns):
        return None
    sources = state.label_sources(sorted(frame[BATCH_ID].unique().tolist()))
    reviewed = sources[sources["source"] == "review"]
    if reviewed.empty:
        return None
    keys = pd.MultiIndex.from_frame(reviewed[["batch_id", "row_key"]])
    mask = pd.MultiIndex.from_arrays([frame[BATCH_ID], frame[ROW_KEY]]).isin(keys)
    return np.where(mask, float(review_weight), 1.0) if mask.any() else None
