"""The human review queue end to end (Prefect's real engine): a scored batch's least confident rows
are queued, labeled through an export file or the paused `review-queue` flow, recorded as labels
with source=review, and trained on by the next retrain."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from driftline.services import review, training
from driftline.services.datasets import ROW_KEY, label_weights
from driftline.services.project import load_facts
from driftline.services.workspace import Workspace
from flows.batch_cycle import batch_cycle
from flows.retrain import retrain
from flows.review import review_queue
from tests.flows.project import build_project, write_batch
from tests.streams import make_batch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(prefect_harness, tmp_path_factory) -> Workspace:
    return build_project(tmp_path_factory.mktemp("review"))


def config_of(ws: Workspace) -> str:
    return str(ws.config.base_dir / "driftline.yaml")


def unlabeled_batch(ws: Workspace, seed: int) -> tuple[str, dict[str, str]]:
    """Run an unlabeled batch through the cycle and queue its uncertain rows as the lead's wiring
    will (from the prediction log); returns the batch id and the true labels by row key."""
    frame = make_batch(600, seed=seed, start=seed * 1000)
    path = ws.config.base_dir.parent / f"unlabeled-{seed}.parquet"
    frame.drop(columns=["y"]).to_parquet(path, index=False)
    result = batch_cycle(path=str(path), config_path=config_of(ws), allow_retrain=False)
    assert result["status"] == "accepted" and result["scoring"]["rows_scored"] == 600
    batch_id = result["batch_id"]
    scored = ws.state.predictions_of(batch_id)
    assert len(scored) == 600
    # Once the batch cycle queues the batch itself (the lead's wiring), this adds nothing more.
    review.queue_batch(ws, scored, batch_id=batch_id, task=load_facts(ws).task)
    open_items = ws.state.open_reviews()
    assert 0 < (open_items["batch_id"] == batch_id).sum() <= ws.config.review.max_per_batch
    return batch_id, dict(zip(frame["event_id"], frame["y"].astype(str), strict=True))


def test_reviewed_labels_are_recorded_and_train_the_next_retrain(project: Workspace, tmp_path: Path):
    ws = project
    batch_id, truth = unlabeled_batch(ws, seed=710)
    queued = ws.state.open_reviews()
    queued = queued[queued["batch_id"] == batch_id]
    # The queued rows are the ones the champion was least sure of.
    assert (queued["confidence"] < ws.config.review.binary_margin).all()

    path = tmp_path / "review.csv"
    review.export_open(ws, path)
    filled = pd.read_csv(path)
    filled["answer"] = filled["row_key"].map(truth)  # the person knows the truth of this batch's rows
    filled.to_csv(path, index=False)
    done = review.import_answers(ws, path, reviewer="ana")
    assert done.rejected == 0 and done.unknown == 0 and done.recorded == len(queued)

    sources = ws.state.label_sources([batch_id])
    assert set(sources["source"]) == {"review"} and set(sources["row_key"]) == set(queued["row_key"])
    version = ws.state.get_batch(batch_id).champion_version  # type: ignore[union-attr]
    assert done.performance[batch_id][f"champion:{version}"]["n"] == len(queued)  # realized metrics

    # A labeled batch to hold out; the reviewed batch is then in the training window.
    holdout = write_batch(tmp_path / "holdout.parquet", rows=600, seed=711, start=711_000)
    assert (
        batch_cycle(path=str(holdout), config_path=config_of(ws), allow_retrain=False)["status"] == "accepted"
    )
    facts = load_facts(ws)
    window = training.load_window(ws, training.select(ws), facts)
    assert batch_id in {b.batch_id for b in window.train_batches}
    trained = window.train[window.train["__batch_id"] == batch_id]
    assert set(trained[ROW_KEY]) == set(queued["row_key"])
    weights = label_weights(ws.state, window.train, review_weight=ws.config.review.weight)
    assert weights is not None
    assert (weights == ws.config.review.weight).sum() == len(queued) and (weights == 1.0).sum() > 0

    outcome = retrain(reason="after review", config_path=config_of(ws))
    assert outcome["version"], outcome
    assert batch_id in ws.registry.get_version(outcome["version"]).tags["driftline.window"].split(",")


def paused_review_run(timeout: float = 120.0) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    paused = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    ours = FlowFilter(name=FlowFilterName(any_=["review-queue"]))
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_filter=ours, flow_run_filter=paused)
            if runs:
                return runs[0].id
            time.sleep(0.5)
    raise AssertionError("the review-queue run never paused for input")


def test_the_review_queue_flow_pauses_for_answers_and_records_them(project: Workspace):
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    ws = project
    _, truth = unlabeled_batch(ws, seed=720)
    open_before = ws.state.count_open_reviews()
    items = ws.state.open_reviews(limit=4).to_dict("records")
    assert len(items) == 4
    answers = [
        {"review_id": int(i["id"]), "row_key": i["row_key"], "prediction": i["prediction"], "answer": a}
        for i, a in zip(items, [truth.get(items[0]["row_key"], "1"), "1", "2", ""], strict=True)
    ]  # two good answers, one unknown class, one left blank

    out: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: out.update(review_queue(config_path=config_of(ws), limit=10)))
    worker.start()
    resume_flow_run(paused_review_run(), run_input={"answers": answers, "reviewer": "bo"})
    worker.join(timeout=300)
    assert not worker.is_alive()

    assert out["status"] == "answered" and out["reviewer"] == "bo"
    assert (out["recorded"], out["rejected"], out["skipped"]) == (2, 1, 1)
    assert (
        "column 'answer': 1 of 3 labels rejected" in out["rejected_message"]
        and "'2'" in out["rejected_message"]
    )
    assert ws.state.count_open_reviews() == open_before - 2
    answered = ws.state.reviews_by_id([a["review_id"] for a in answers[:2]])
    assert set(answered["status"]) == {"answered"} and set(answered["reviewer"]) == {"bo"}
    recorded = ws.state.label_sources(sorted(set(answered["batch_id"])))
    assert set(answered["row_key"]) <= set(recorded[recorded["source"] == "review"]["row_key"])

    with get_client(sync_client=True) as client:
        artifacts = [a for a in client.read_latest_artifacts() if a.key == "review-queue"]
    assert artifacts and str(items[0]["row_key"]) in str(artifacts[0].data)
    assert items[0]["batch_id"] in str(artifacts[0].data)
