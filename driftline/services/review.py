"""The human review queue: the champion's least confident predictions, labeled by a person.

* **Selection** (:func:`select_uncertain`, pure), per batch, on the champion's prediction log:
  binary rows with ``|P(positive) - threshold| < review.binary_margin`` (the threshold is 0.5,
  the argmax rule ``models.train.predict`` uses); multiclass rows whose top class probability is
  below ``review.multiclass_max_prob``; the most uncertain first, at most ``review.max_per_batch``.
  Regression rows are never queued: our regressors (gradient boosting, random forest, ridge)
  give a point prediction and no interval, and a distance-from-threshold has no meaning for a
  number. A quantile interval would need two more fitted models per version (quantile loss) and
  its own coverage check before its width could rank rows; until a model provides one, nothing is
  queued rather than something arbitrary.
* **Queue** (``review_queue`` table): ``open`` → ``answered`` | ``expired``. A row already labeled
  or already queued is not queued again. Beyond ``review.capacity`` open items the oldest batch's
  items expire first (least uncertain first within it): a label for an old batch is the least
  likely to enter a training window (``window.batches``), and the outcome flags it for an alert.
* **Answers** (:func:`import_answers`, :func:`record_answers`) are checked like every label
  (``driftline.services.labels.check_labels``; a class the model does not know is rejected, whatever
  ``data.new_classes`` says: a reviewer picks among known classes, so a new one is a typo), then
  recorded in ``labels`` with ``source="review"``, replacing an earlier label of that row. The
  batches' realized metrics are computed again, and retrain windows count them like any label;
  training weighs them by ``review.weight`` (``driftline.services.datasets.label_weights``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from driftline.core.batch_io import BatchReadError, read_table
from driftline.core.names import CHAMPION
from driftline.services.datasets import row_keys, text_values
from driftline.services.labels import check_labels
from driftline.services.project import ProjectFacts, TaskKind, load_facts
from driftline.services.workspace import Workspace
from monitoring.performance import realized_metrics

logger = logging.getLogger(__name__)

REVIEW_SOURCE = "review"
QUEUE_COLUMNS = ["batch_id", "row_key", "model_version", "prediction", "score", "confidence"]
ID, ANSWER = "review_id", "answer"  # the columns of an export a person fills in
EXPORT_COLUMNS = [ID, "batch_id", "row_key", "model_version", "prediction", "score", "confidence"]
BINARY_THRESHOLD = 0.5  # predict's argmax over two classes


def select_uncertain(
    log_rows: pd.DataFrame,
    *,
    task: TaskKind,
    max_rows: int,
    binary_margin: float,
    multiclass_max_prob: float,
    threshold: float = BINARY_THRESHOLD,
) -> pd.DataFrame:
    """The champion's least confident rows of one batch, most uncertain first.

    Args:
        log_rows: prediction-log rows (batch_id, row_key, model_version, prediction, score and,
            optionally, role: only ``champion`` rows are considered).
        task: binary (score is P(positive)), multiclass (score is the top class probability) or
            regression (nothing is selected: see the module docstring).
        max_rows: at most this many rows.
        binary_margin: binary rows with ``|score - threshold|`` below this are uncertain.
        multiclass_max_prob: multiclass rows with a top probability below this are uncertain.
        threshold: the binary decision threshold.

    Returns:
        QUEUE_COLUMNS; ``confidence`` is ``|score - threshold|`` (binary) or the score
        (multiclass): lower is less sure.

    Raises:
        ValueError: an unknown task or an argument out of range, naming it.
    """
    if task not in ("binary", "multiclass", "regression"):
        raise ValueError(f"task {task!r} is not binary, multiclass or regression")
    if max_rows < 1:
        raise ValueError(f"max_rows={max_rows!r}: must be >= 1")
    if not 0 < binary_margin <= 0.5:
        raise ValueError(f"binary_margin={binary_margin!r}: must be in (0, 0.5]")
    if not 0 < multiclass_max_prob <= 1:
        raise ValueError(f"multiclass_max_prob={multiclass_max_prob!r}: must be in (0, 1]")
    rows = log_rows[log_rows["role"] == CHAMPION] if "role" in log_rows.columns else log_rows
    if task == "regression" or rows.empty:
        return pd.DataFrame(columns=QUEUE_COLUMNS)
    score = pd.to_numeric(rows["score"], errors="coerce")
    if task == "binary":
        confidence = (score - threshold).abs()
        uncertain = confidence < binary_margin
    else:
        confidence = score
        uncertain = score < multiclass_max_prob
    picked = rows.assign(confidence=confidence)[uncertain & score.notna()]
    picked = picked.sort_values("confidence", kind="stable").drop_duplicates("row_key")
    return picked.head(max_rows)[QUEUE_COLUMNS].reset_index(drop=True)


@dataclass(frozen=True)
class Enqueued:
    """What queuing one batch did; ``expired > 0`` means the queue was over capacity."""

    batch_id: str
    added: int
    expired: int
    open: int
    capacity: int

    @property
    def over_capacity(self) -> bool:
        return self.expired > 0

    @property
    def summary(self) -> str:
        text = f"batch {self.batch_id}: {self.added} row(s) queued for review, {self.open} open"
        if self.expired:
            text += (
                f"; the queue was over its capacity of {self.capacity}: {self.expired} older open "
                "item(s) expired unanswered (review faster, or raise review.capacity)"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}


def enqueue(ws: Workspace, batch_id: str, selected: pd.DataFrame) -> Enqueued:
    """Queue `selected` rows (QUEUE_COLUMNS) of `batch_id`, except rows that have a label already
    or were queued before, then expire the oldest open items beyond ``review.capacity``."""
    state = ws.state
    added = state.enqueue_review(selected.assign(batch_id=batch_id)[QUEUE_COLUMNS])
    capacity = ws.config.review.capacity
    expired = _expire_beyond(ws, capacity)
    if expired:
        logger.warning("review queue over capacity %d: %d open item(s) expired", capacity, expired)
    return Enqueued(batch_id, added, expired, state.count_open_reviews(), capacity)


def _expire_beyond(ws: Workspace, capacity: int) -> int:
    if ws.state.count_open_reviews() <= capacity:
        return 0
    items = ws.state.open_reviews()
    first = items.groupby("batch_id")["id"].transform("min")  # a batch's items are queued together
    order = items.assign(first=first).sort_values(
        ["first", "confidence", "id"], ascending=[True, False, True]
    )
    return ws.state.expire_reviews(order["id"].head(len(items) - capacity).astype(int).tolist())


def queue_batch(ws: Workspace, log_rows: pd.DataFrame, *, batch_id: str, task: TaskKind) -> Enqueued | None:
    """Select and queue one scored batch with the config's review settings (the batch cycle's
    step); None when review is off."""
    r = ws.config.review
    if not r.enabled:
        return None
    selected = select_uncertain(
        log_rows,
        task=task,
        max_rows=r.max_per_batch,
        binary_margin=r.binary_margin,
        multiclass_max_prob=r.multiclass_max_prob,
    )
    return enqueue(ws, batch_id, selected)


def open_items(ws: Workspace, *, limit: int | None = None) -> pd.DataFrame:
    """Open items, oldest first, as EXPORT_COLUMNS plus each row's raw columns (without the target
    and the id column, which is the row key) read from the batch's kept raw file."""
    items = ws.state.open_reviews(limit).rename(columns={"id": ID})[EXPORT_COLUMNS]
    data = ws.config.data
    parts = []
    for batch_id, part in items.groupby("batch_id", sort=False):
        features = _raw_rows(ws, str(batch_id), part["row_key"].tolist())
        taken = set(EXPORT_COLUMNS) | {ANSWER}
        features = features.drop(columns=[c for c in (data.target, data.id_column) if c in features.columns])
        features = features.rename(columns={c: f"{c} (feature)" for c in features.columns if c in taken})
        parts.append(part.merge(features, left_on="row_key", right_index=True, how="left"))
    out = pd.concat(parts, ignore_index=True) if parts else items
    return out.sort_values(ID, kind="stable").reset_index(drop=True)


def _raw_rows(ws: Workspace, batch_id: str, keys: list[str]) -> pd.DataFrame:
    batch = ws.state.get_batch(batch_id)
    try:
        if batch is None:
            raise BatchReadError(f"batch {batch_id} is not recorded")
        frame = read_table(Path(batch.raw_path))
    except BatchReadError as err:  # the items stay answerable; only their features are missing
        logger.warning("review items of batch %s have no features: %s", batch_id, err)
        return pd.DataFrame(index=pd.Index([], dtype=str))
    frame.index = row_keys(frame, id_column=ws.config.data.id_column).to_numpy()
    frame = frame[~frame.index.duplicated(keep="last")]
    return frame.loc[frame.index.intersection(keys)]


def export_open(ws: Workspace, path: Path, *, limit: int | None = None) -> int:
    """Write the open items to a CSV with an empty ``answer`` column to fill in; returns rows."""
    items = open_items(ws, limit=limit).assign(**{ANSWER: ""})
    path.parent.mkdir(parents=True, exist_ok=True)
    items.to_csv(path, index=False)
    return len(items)


@dataclass(frozen=True)
class Answered:
    """What recording a person's answers did; each message is one line, empty when nothing."""

    recorded: int
    rejected: int
    rejected_message: str
    unknown: int
    unknown_message: str
    skipped: int  # rows without an answer (left for later)
    batches: tuple[str, ...]
    performance: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "batches": list(self.batches)}


def import_answers(ws: Workspace, path: Path, *, reviewer: str) -> Answered:
    """Record the answers filled into an export (CSV or Parquet with review_id and answer).

    Raises:
        BatchReadError: unreadable file or a missing column, naming the file and the column.
    """
    frame = read_table(path)
    for column in (ID, ANSWER):
        if column not in frame.columns:
            raise BatchReadError(
                f"{path}: column {column!r} is missing (a review file needs {ID} and {ANSWER}; "
                "`driftline review export` writes one)"
            )
    answers = frame[[ID, ANSWER]]
    return record_answers(ws, answers, reviewer=reviewer, source=str(path))


def record_answers(ws: Workspace, answers: pd.DataFrame, *, reviewer: str, source: str) -> Answered:
    """Check answers (columns review_id, answer) and record the good ones as labels with
    source=review; rejected ones and unknown ids leave the queue as it was.

    Args:
        source: where the answers come from, for the messages (a file, a flow run).
    """
    given = answers[answers[ANSWER].notna()]
    given = given.assign(**{ANSWER: text_values(given[ANSWER]).str.strip()})
    given = given[given[ANSWER] != ""]
    skipped = len(answers) - len(given)
    given = given.assign(**{ID: pd.to_numeric(given[ID], errors="coerce")})
    valid = given[ID].notna()
    given = pd.concat([given[~valid], given[valid].drop_duplicates(ID, keep="last")])  # the last answer wins
    known_ids = [int(i) for i in given[ID].dropna()]
    items = ws.state.reviews_by_id(known_ids)[["id", "batch_id", "row_key"]]
    joined = given.merge(items, left_on=ID, right_on="id", how="left")
    unknown = joined[joined["batch_id"].isna()]
    unknown_message = ""
    if len(unknown):
        examples = ", ".join(str(v) for v in unknown[ID].head(3))
        unknown_message = (
            f"{source}: column {ID!r}: {len(unknown)} of {len(joined)} answers name no review item "
            f"(rule: {ID} must be one `driftline review export` wrote), e.g. {examples}; not recorded"
        )
    known = joined.dropna(subset=["batch_id"])
    facts = load_facts(ws)
    check = check_labels(
        known[["id", "batch_id", "row_key"]].assign(label=known[ANSWER].to_numpy()),
        facts,
        source=source,
        column=ANSWER,
        new_classes="reject",
    )
    good = check.good
    if len(good):
        ws.state.record_labels(good[["batch_id", "row_key", "label"]], source=REVIEW_SOURCE)
        ws.state.answer_reviews(good[["id", "label"]].rename(columns={"label": "answer"}), reviewer=reviewer)
    batches = tuple(sorted(good["batch_id"].unique().tolist()))
    return Answered(
        recorded=len(good),
        rejected=len(check.rejected),
        rejected_message=check.message,
        unknown=len(unknown),
        unknown_message=unknown_message,
        skipped=skipped,
        batches=batches,
        performance=refresh_performance(ws, list(batches), facts),
    )


def refresh_performance(ws: Workspace, batch_ids: list[str], facts: ProjectFacts) -> dict[str, Any]:
    """Realized metrics of these batches from every label they have now, stored with each batch."""

    out: dict[str, Any] = {}
    for batch_id in batch_ids:
        joined = ws.state.predictions_with_labels([batch_id])
        perf = (
            {}
            if joined.empty
            else realized_metrics(joined, task=facts.task, positive_label=facts.positive_label)
        )
        batch = ws.state.get_batch(batch_id)
        version = batch.champion_version if batch else None
        serving = perf.get(f"champion:{version}", {}).get(facts.metric) if version else None
        ws.state.update_batch(batch_id, performance=perf or None, serving_metric=serving)
        out[batch_id] = perf
    return out
