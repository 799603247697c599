"""Matching a late label file to the prediction log by row key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from driftline.batch_io import BatchReadError, batch_id_of, content_hash, keep_raw, read_table
from driftline.datasets import text_values
from driftline.workspace import Workspace


@dataclass(frozen=True)
class MatchedLabels:
    labels: pd.DataFrame
    batch_ids: list[str]
    unknown: int
    unknown_message: str
    kept: Path


def match_labels(ws: Workspace, path: Path) -> MatchedLabels:
    """Keep the raw label file, read it and attach each label to the batch that scored its row.

    Raises:
        BatchReadError: unreadable file, or missing id/target column, naming the file and column.
    """
    data = ws.config.data
    sha = content_hash(path)
    kept = keep_raw(path, ws.root / "labels" / batch_id_of(sha), sha256=sha)
    frame = read_table(path)
    if not data.id_column:
        raise BatchReadError(
            f"{path}: late labels need an id column to match rows; set data.id_column in driftline.yaml"
        )
    for column in (data.id_column, data.target):
        if column not in frame.columns:
            raise BatchReadError(f"{path}: column {column!r} is missing (a label file needs id and target)")
    frame = frame[frame[data.target].notna()]
    keys = text_values(frame[data.id_column])
    found = ws.state.find_prediction_batches(keys.tolist())
    table = pd.DataFrame({"row_key": keys.to_numpy(), "label": text_values(frame[data.target]).to_numpy()})
    joined = table.merge(found, on="row_key", how="left")
    unknown = joined[joined["batch_id"].isna()]
    message = ""
    if len(unknown):
        examples = ", ".join(unknown["row_key"].head(3))
        message = (
            f"{path}: column {data.id_column!r}: {len(unknown)} of {len(joined)} ids match no scored row "
            f"(rule: label ids must be in the prediction log), e.g. {examples}; "
            "those labels were not recorded"
        )
    known = joined.dropna(subset=["batch_id"])[["batch_id", "row_key", "label"]]
    return MatchedLabels(known, sorted(known["batch_id"].unique().tolist()), len(unknown), message, kept)
