"""The human review queue: which rows are queued, how the queue is bounded, and answers that come
back through an export file (on a real state store, no Prefect)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from driftline.core.config import ConfigError, parse_config
from driftline.services import review
from driftline.services.datasets import label_weights, labeled_frame
from driftline.services.project import ProjectFacts, facts_path
from driftline.services.workspace import Workspace
from driftline.store.state import StateStore
from tests.cli_runner import invoke

SETTINGS: dict[str, Any] = {"max_rows": 50, "binary_margin": 0.1, "multiclass_max_prob": 0.5}
FACTS = ProjectFacts("binary", ("x0", "x1"), ("colour",), "auc", True, "1", classes=("0", "1"))


def log_rows(scores: list[float], *, batch_id: str = "b1", role: str = "champion") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "batch_id": batch_id,
            "row_key": [f"e{i}" for i in range(len(scores))],
            "role": role,
            "model_version": "3",
            "prediction": ["1" if s >= 0.5 else "0" for s in scores],
            "score": scores,
            "latency_ms": 0.1,
        }
    )


# Selection ---------------------------------------------------------------------------------------
def test_binary_rows_near_the_threshold_are_selected_most_uncertain_first():
    rows = log_rows([0.5, 0.55, 0.9, 0.46, 0.61, 0.05, 0.599, 0.42])
    picked = review.select_uncertain(rows, task="binary", **SETTINGS)
    assert picked["row_key"].tolist() == ["e0", "e3", "e1", "e7", "e6"]  # |p - 0.5| < 0.1, ascending
    assert picked["confidence"].tolist() == pytest.approx([0.0, 0.04, 0.05, 0.08, 0.099])
    assert list(picked.columns) == review.QUEUE_COLUMNS
    assert (picked["batch_id"] == "b1").all() and (picked["model_version"] == "3").all()


def test_selection_is_bounded_per_batch_and_ignores_the_challenger_and_missing_scores():
    rows = pd.concat(
        [
            log_rows([0.52, 0.5, 0.58, 0.47, float("nan")]),
            log_rows([0.5, 0.5, 0.5, 0.5, 0.5], role="challenger"),
        ]
    )
    picked = review.select_uncertain(rows, task="binary", **{**SETTINGS, "max_rows": 2})
    assert picked["row_key"].tolist() == ["e1", "e0"]
    assert review.select_uncertain(rows.iloc[:0], task="binary", **SETTINGS).empty


def test_a_row_key_seen_twice_in_a_batch_is_queued_once():
    rows = log_rows([0.5, 0.52])
    rows["row_key"] = "same"
    assert review.select_uncertain(rows, task="binary", **SETTINGS)["row_key"].tolist() == ["same"]


def test_multiclass_rows_whose_top_probability_is_low_are_selected():
    rows = log_rows([0.34, 0.8, 0.49, 0.5, 0.41])
    picked = review.select_uncertain(rows, task="multiclass", **SETTINGS)
    assert picked["row_key"].tolist() == ["e0", "e4", "e2"]  # below τ = 0.5, least sure first
    assert picked["confidence"].tolist() == pytest.approx([0.34, 0.41, 0.49])


def test_regression_queues_nothing():
    rows = log_rows([0.5, 0.5, 12.0])
    picked = review.select_uncertain(rows, task="regression", **SETTINGS)
    assert picked.empty and list(picked.columns) == review.QUEUE_COLUMNS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_rows": 0}, "max_rows=0"),
        ({"binary_margin": 0.7}, "binary_margin=0.7"),
        ({"multiclass_max_prob": 0}, "multiclass_max_prob=0"),
        ({"task": "ranking"}, "task 'ranking'"),
    ],
)
def test_bad_selection_arguments_are_named(overrides: dict[str, Any], message: str):
    kwargs: dict[str, Any] = {"task": "binary", **SETTINGS, **overrides}
    with pytest.raises(ValueError, match=message):
        review.select_uncertain(log_rows([0.5]), **kwargs)


def test_review_config_has_documented_defaults_and_checks_its_values(tmp_path):
    cfg = parse_config({"project": "p", "data": {"target": "y"}}, base_dir=tmp_path)
    r = cfg.review
    assert (r.enabled, r.max_per_batch, r.binary_margin, r.multiclass_max_prob, r.capacity, r.weight) == (
        True, 50, 0.1, 0.5, 1000, 2.0,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="review.binary_margin"):
        parse_config(
            {"project": "p", "data": {"target": "y"}, "review": {"binary_margin": 0.6}}, base_dir=tmp_path
        )


# The queue on a real state store -------------------------------------------------------------------
def project(tmp_path: Path, **review_settings: Any) -> Workspace:
    raw = {
        "project": "shop",
        "data": {"target": "y", "id_column": "event_id"},
        "review": {"max_per_batch": 5, **review_settings},
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "driftline.yaml").write_text(yaml.safe_dump(raw))
    ws = Workspace(parse_config(raw, base_dir=tmp_path))
    facts_path(ws).parent.mkdir(parents=True, exist_ok=True)
    facts_path(ws).write_text(json.dumps(FACTS.to_dict()))
    return ws


def scored_batch(ws: Workspace, batch_id: str, scores: list[float], *, seq_hint: int = 0) -> pd.DataFrame:
    """A recorded, scored batch (raw file kept, predictions logged) without labels."""
    rows = len(scores)
    raw = pd.DataFrame(
        {
            "event_id": [f"{batch_id}-{i}" for i in range(rows)],
            "x0": np.linspace(0, 1, rows) + seq_hint,
            "x1": np.arange(rows, dtype=float),
            "colour": ["red", "blue"] * (rows // 2) + ["red"] * (rows % 2),
            "answer": "not ours",  # a raw column that collides with the export's own
        }
    )
    path = ws.root / "batches" / batch_id / "raw.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    raw.to_parquet(path, index=False)
    ws.state.add_batch(
        batch_id=batch_id, sha256="0" * 64, source=f"{batch_id}.parquet", raw_path=str(path),
        status="accepted", rows=rows, champion_version="3",
    )  # fmt: skip
    logged = log_rows(scores, batch_id=batch_id)
    logged["row_key"] = raw["event_id"]
    ws.state.log_predictions(logged)
    return logged


def test_enqueue_skips_labeled_and_already_queued_rows(tmp_path):
    ws = project(tmp_path)
    logged = scored_batch(ws, "b1", [0.5, 0.52, 0.55, 0.9])
    ws.state.record_labels(
        pd.DataFrame({"batch_id": ["b1"], "row_key": ["b1-1"], "label": ["1"]}), source="batch"
    )
    first = review.queue_batch(ws, logged, batch_id="b1", task="binary")
    assert first is not None and (first.added, first.expired, first.open) == (2, 0, 2)
    assert ws.state.open_reviews()["row_key"].tolist() == ["b1-0", "b1-2"]
    again = review.queue_batch(ws, logged, batch_id="b1", task="binary")  # a retried batch cycle
    assert again is not None and (again.added, again.open) == (0, 2)


def test_review_off_queues_nothing(tmp_path):
    ws = project(tmp_path, enabled=False)
    logged = scored_batch(ws, "b1", [0.5, 0.52])
    assert review.queue_batch(ws, logged, batch_id="b1", task="binary") is None
    assert ws.state.count_open_reviews() == 0


def test_over_capacity_the_oldest_batch_expires_first_and_is_flagged(tmp_path):
    ws = project(tmp_path, capacity=4)
    old = review.queue_batch(ws, scored_batch(ws, "b1", [0.5, 0.58, 0.45]), batch_id="b1", task="binary")
    assert old is not None and not old.over_capacity
    new = review.queue_batch(ws, scored_batch(ws, "b2", [0.51, 0.5, 0.9]), batch_id="b2", task="binary")
    assert new is not None and new.over_capacity and (new.added, new.expired, new.open) == (2, 1, 4)
    assert "over its capacity of 4: 1 older open item(s) expired" in new.summary
    # b1's least uncertain item (p = 0.58) went; b1's others and all of b2 stay.
    assert sorted(ws.state.open_reviews()["row_key"]) == ["b1-0", "b1-2", "b2-0", "b2-1"]

    small = project(tmp_path / "small", capacity=2)
    one = review.queue_batch(
        small, scored_batch(small, "b3", [0.5, 0.56, 0.53]), batch_id="b3", task="binary"
    )
    assert one is not None and one.expired == 1  # one batch alone over capacity: its least unsure go
    assert sorted(small.state.open_reviews()["row_key"]) == ["b3-0", "b3-2"]


def fill(path: Path, answers: dict[str, str]) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame["answer"] = frame["row_key"].map(answers)
    frame.to_csv(path, index=False)
    return frame


def test_export_then_import_records_reviewed_labels_and_rejects_an_unknown_class(tmp_path):
    ws = project(tmp_path)
    logged = scored_batch(ws, "b1", [0.5, 0.52, 0.55, 0.44, 0.9, 0.1])
    review.queue_batch(ws, logged, batch_id="b1", task="binary")
    # A late label for a queued row arrives before the reviewer answers it: the answer replaces it.
    ws.state.record_labels(
        pd.DataFrame({"batch_id": ["b1"], "row_key": ["b1-2"], "label": ["0"]}), source="late"
    )

    path = tmp_path / "review.csv"
    assert review.export_open(ws, path) == 4
    exported = pd.read_csv(path)
    assert exported.columns[:7].tolist() == review.EXPORT_COLUMNS
    assert exported.columns[-1] == "answer" and exported["answer"].isna().all()
    assert {"x0", "x1", "colour", "answer (feature)"} <= set(exported.columns)
    assert "event_id" not in exported.columns and "y" not in exported.columns
    row = exported.set_index("row_key").loc["b1-3"]
    assert (row["x1"], row["colour"], row["prediction"]) == (3.0, "blue", 0)

    fill(path, {"b1-0": "1", "b1-1": "0", "b1-2": "1", "b1-3": "2"})  # "2": not a class
    done = review.import_answers(ws, path, reviewer="ana")
    assert (done.recorded, done.rejected, done.unknown, done.skipped) == (3, 1, 0, 0)
    assert done.rejected_message == (
        f"{path}: column 'answer': 1 of 4 labels rejected "
        "(rule: a label must be one of the classes the model knows (0, 1)), e.g. '2'"
    )
    sources = ws.state.label_sources(["b1"]).set_index("row_key")["source"].to_dict()
    assert sources == {"b1-0": "review", "b1-1": "review", "b1-2": "review"}
    assert ws.state.labels_for("b1").set_index("row_key")["label"].to_dict() == {
        "b1-0": "1", "b1-1": "0", "b1-2": "1",
    }  # fmt: skip
    assert ws.state.open_reviews()["row_key"].tolist() == ["b1-3"]  # the rejected answer stays open
    answered = ws.state.reviews_by_id([int(i) for i in exported["review_id"]]).set_index("row_key")
    assert answered.loc["b1-0", "status"] == "answered" and answered.loc["b1-0", "reviewer"] == "ana"
    # Realized metrics of the batch now count the reviewed rows.
    assert done.batches == ("b1",) and done.performance["b1"]["champion:3"]["n"] == 3
    batch = ws.state.get_batch("b1")
    assert batch is not None and batch.performance == done.performance["b1"]


def test_import_names_unknown_ids_and_a_missing_column(tmp_path):
    ws = project(tmp_path)
    review.queue_batch(ws, scored_batch(ws, "b1", [0.5]), batch_id="b1", task="binary")
    path = tmp_path / "answers.csv"
    pd.DataFrame({"review_id": [1, 999, None], "answer": ["1", "0", "1"]}).to_csv(path, index=False)
    done = review.import_answers(ws, path, reviewer="ana")
    assert (done.recorded, done.unknown) == (1, 2)
    assert done.unknown_message.startswith(f"{path}: column 'review_id': 2 of 3 answers name no review item")

    no_answer = tmp_path / "no_answer.csv"
    pd.DataFrame({"review_id": [1]}).to_csv(no_answer, index=False)
    from driftline.core.batch_io import BatchReadError

    with pytest.raises(BatchReadError, match="column 'answer' is missing"):
        review.import_answers(ws, no_answer, reviewer="ana")


# Training weights ------------------------------------------------------------------------------------
def test_reviewed_labels_weigh_review_weight_in_the_training_frame(tmp_path):
    ws = project(tmp_path)
    scored_batch(ws, "b1", [0.5, 0.52, 0.9, 0.1])
    ws.state.record_labels(
        pd.DataFrame({"batch_id": "b1", "row_key": ["b1-2", "b1-3"], "label": ["1", "0"]}), source="batch"
    )
    batches = ws.state.list_batches()
    frame = labeled_frame(ws.state, batches, target="y", id_column="event_id", regression=False)
    assert label_weights(ws.state, frame, review_weight=2.0) is None  # nothing reviewed: unweighted

    ws.state.record_labels(
        pd.DataFrame({"batch_id": "b1", "row_key": ["b1-0"], "label": ["1"]}), source="review"
    )
    frame = labeled_frame(ws.state, batches, target="y", id_column="event_id", regression=False)
    weights = label_weights(ws.state, frame, review_weight=2.0)
    assert weights is not None
    assert dict(zip(frame["__row_key"], weights, strict=True)) == {"b1-0": 2.0, "b1-2": 1.0, "b1-3": 1.0}
    assert label_weights(ws.state, frame, review_weight=1.0) is None


def test_fit_model_passes_sample_weight_to_the_estimator():
    from models.spec import FeatureSpec
    from models.train import fit_model, predict

    frame = pd.DataFrame({"x": np.arange(10.0), "y": ["0"] * 8 + ["1", "1"]})
    spec = FeatureSpec(numeric=("x",), categorical=())
    weights = np.where(frame["y"] == "1", 4.0, 1.0)  # 2 positives x 4 = 8 negatives x 1
    prior = fit_model(frame, target="y", spec=spec, task="binary", estimator="trivial", sample_weight=weights)
    assert predict(prior, frame).score == pytest.approx([0.5] * 10)
    plain = fit_model(frame, target="y", spec=spec, task="binary", estimator="trivial")
    assert predict(plain, frame).score == pytest.approx([0.2] * 10)
    for estimator in ("hist_gradient_boosting", "random_forest", "linear"):  # each accepts weights
        fitted = fit_model(
            frame, target="y", spec=spec, task="binary", estimator=estimator, sample_weight=weights
        )
        assert len(predict(fitted, frame)) == 10
    with pytest.raises(ValueError, match="one weight per row"):
        fit_model(frame, target="y", spec=spec, task="binary", sample_weight=weights[:3])
    with pytest.raises(ValueError, match="non-negative"):
        fit_model(frame, target="y", spec=spec, task="binary", sample_weight=-weights)


def test_an_old_database_gets_the_label_source_column(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE labels (batch_id VARCHAR(32) NOT NULL, row_key VARCHAR(64) NOT NULL, "
            "label TEXT NOT NULL, received_at VARCHAR(40) NOT NULL)"
        )
        conn.execute("INSERT INTO labels VALUES ('b1', 'r1', '1', '2024-01-01')")
    state = StateStore(f"sqlite:///{path}")
    assert state.label_sources(["b1"]).to_dict("records") == [
        {"batch_id": "b1", "row_key": "r1", "source": None}
    ]
    with pytest.raises(ValueError, match="label source 'human'"):
        state.record_labels(
            pd.DataFrame({"batch_id": ["b1"], "row_key": ["r2"], "label": ["0"]}), source="human"
        )


# The CLI ----------------------------------------------------------------------------------------------
def cli(*args: str, cwd: Path) -> Any:
    """`driftline ...` in-process; the environment the command sets for itself is undone."""
    return invoke(*args, cwd=cwd)


def test_cli_lists_exports_and_imports_and_fails_on_a_rejected_answer(tmp_path):
    ws = project(tmp_path)
    review.queue_batch(ws, scored_batch(ws, "b1", [0.5, 0.53, 0.9]), batch_id="b1", task="binary")

    listed = cli("review", "list", "--json", cwd=tmp_path)
    assert listed.exit_code == 0, listed.output
    shown = json.loads(listed.stdout)
    assert shown["open"] == 2 and shown["capacity"] == 1000
    assert [i["row_key"] for i in shown["items"]] == ["b1-0", "b1-1"]
    assert "b1-1" in cli("review", "list", cwd=tmp_path).stdout

    exported = cli("review", "export", "out.csv", cwd=tmp_path)
    assert exported.exit_code == 0 and "wrote 2 open item(s)" in exported.stdout
    fill(tmp_path / "out.csv", {"b1-0": "1", "b1-1": "maybe"})
    done = cli("review", "import", "out.csv", "--reviewer", "ana", cwd=tmp_path)
    assert done.exit_code == 1
    assert "recorded 1 reviewed label(s)" in done.stdout
    assert "column 'answer': 1 of 2 labels rejected" in done.stderr and "'maybe'" in done.stderr
    assert ws.state.count_open_reviews() == 1

    missing = cli("review", "import", "nope.csv", cwd=tmp_path)
    assert missing.exit_code == 2 and "nope.csv: file not found" in missing.stderr
