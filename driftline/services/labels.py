"""Matching a late label file to the prediction log by row key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from driftline.core.batch_io import BatchReadError, batch_id_of, content_hash, keep_raw, read_table
from driftline.services.datasets import text_values
from driftline.services.project import ProjectFacts
from driftline.services.workspace import Workspace


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
        BatchReadError: unreadable file, a missing id/target column or no label at all, naming
            the file and column.
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
            raise BatchReadError(
                f"{path}: column {column!r} is missing "
                "(rule: a label file needs the id column and the target)"
            )
    present = frame[data.target].notna()  # a row not labeled yet is skipped; a file of them is a mistake
    if not present.any():
        raise BatchReadError(
            f"{path}: column {data.target!r}: all {len(frame)} values are empty "
            "(rule: a label file needs at least one label)"
        )
    frame = frame[present]
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


@dataclass(frozen=True)
class LabelCheck:
    """Labels split into those fit to record and those rejected, with the reason in one line."""

    good: pd.DataFrame
    rejected: pd.DataFrame
    message: str  # "" when nothing was rejected
    new_classes: tuple[str, ...] = ()  # multiclass classes the reference never had, accepted


def check_labels(
    labels: pd.DataFrame,
    facts: ProjectFacts,
    *,
    source: str,
    column: str,
    new_classes: str = "accept",
    id_column: str | None = None,
) -> LabelCheck:
    """Reject labels a model cannot learn from: a third class in a binary target (a ``2``, or
    ``yes`` in a 0/1 target), a regression target that is not a finite number, and, with
    ``new_classes="reject"``, a multiclass label of a class the reference never had. With
    `id_column` (a late label file), every label of a row key given more than once is rejected
    too: which of two answers is right cannot be told, and the labels table keeps one per row.

    `labels` has a text ``label`` column (as recorded). Rejected labels never reach the labels
    table, so they never reach realized metrics or a training window. New multiclass classes that
    are accepted are named in `new_classes` (a class can appear over time: a new product, a rare
    weather type).
    """
    values = labels["label"]
    unseen = pd.Series(False, index=labels.index)
    if facts.task == "regression":
        numbers = pd.to_numeric(values, errors="coerce")
        bad = ~numbers.between(-np.inf, np.inf, inclusive="neither")
        rule = "a regression label must be a finite number"
    elif facts.classes:  # empty for a project made before classes were recorded
        unseen = ~values.isin(facts.classes)
        bad = (
            unseen
            if facts.task == "binary" or new_classes == "reject"
            else pd.Series(False, index=labels.index)
        )
        rule = f"a label must be one of the classes the model knows ({', '.join(facts.classes)})"
    else:
        bad, rule = pd.Series(False, index=labels.index), ""
    accepted_new = tuple(sorted(set(values[unseen & ~bad]))) if facts.task == "multiclass" else ()
    messages = [_rejection(labels, bad, source=source, column=column, rule=rule, shown="label")]
    if id_column is not None:
        repeated = labels["row_key"].duplicated(keep=False) & ~bad
        rule = "an id must appear once in a label file"
        messages.append(
            _rejection(labels, repeated, source=source, column=id_column, rule=rule, shown="row_key")
        )
        bad = bad | repeated
    message = "; ".join(m for m in messages if m)
    return LabelCheck(labels[~bad.to_numpy()], labels[bad.to_numpy()], message, accepted_new)


def _rejection(
    labels: pd.DataFrame, bad: pd.Series, *, source: str, column: str, rule: str, shown: str
) -> str:
    """One line naming the file, the column, the rule and a few offending values ("" if none)."""
    if not bad.any():
        return ""
    examples = ", ".join(repr(v) for v in labels.loc[bad.to_numpy(), shown].drop_duplicates().head(3))
    return (
        f"{source}: column {column!r}: {int(bad.sum())} of {len(labels)} labels rejected "
        f"(rule: {rule}), e.g. {examples}"
    )


def quarantine_labels(ws: Workspace, check: LabelCheck, *, name: str, raw: Path | None = None) -> Path:
    """Keep rejected labels with a report under ``labels/quarantine/<name>/``; returns the folder.
    `raw`: where the whole file they came from is kept, named in the report."""
    folder = ws.root / "labels" / "quarantine" / name
    folder.mkdir(parents=True, exist_ok=True)
    check.rejected.to_csv(folder / "rejected.csv", index=False)
    report: dict[str, object] = {"message": check.message, "rejected": len(check.rejected)}
    if raw is not None:
        report["raw"] = str(raw)
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    return folder
