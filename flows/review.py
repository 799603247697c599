"""The ``review-queue`` flow: the human review queue answered in the Prefect UI.

It publishes the oldest open review items (with their features) as a markdown artifact, then
pauses for a form pre-filled with one entry per item: the reviewer types each true label into
``answer`` (blank: skip it) and resumes the run. The answers are then checked and recorded exactly
as ``driftline review import`` records a file (``driftline.services.review.record_answers``).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, Field

from driftline.core.config import load_config
from driftline.services.project import ProjectFacts, load_facts
from driftline.services.review import ANSWER, ID, open_items, record_answers
from driftline.services.workspace import Workspace

ARTIFACT_KEY = "review-queue"


class ReviewedItem(BaseModel):
    """One review item in the form: answer it, or leave the answer blank to keep it open."""

    review_id: int = Field(description="The review item (first column of the review-queue artifact).")
    row_key: str = Field("", description="The row, for reference (answers are matched by review_id).")
    prediction: str = Field("", description="What the model predicted, for reference.")
    answer: str = Field("", description="The true label; leave it blank to skip this row.")


class ReviewAnswers(RunInput):
    """The reviewer's answers, one entry per open item shown."""

    answers: list[ReviewedItem] = Field(
        default_factory=list, description="One entry per open item; fill in 'answer'."
    )
    reviewer: str = Field("", description="Who labels (kept with each answer).")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    return html.escape(" ".join(text.split())).replace("|", "\\|")


def review_markdown(items: pd.DataFrame, facts: ProjectFacts) -> str:
    """The open items as the artifact shows them: ids, prediction, confidence and the features."""
    classes = ", ".join(f"`{html.escape(c)}`" for c in facts.classes) or "(the target's values)"
    columns = [ID, "batch_id", "row_key", "prediction", "confidence"]
    columns += [c for c in facts.features if c in items.columns]
    lines = [
        f"# Review queue: {len(items)} open item(s)",
        "",
        "The model was least sure of these rows. Resume this run and type each row's true label "
        f"into its `answer` (one of {classes}); leave it blank to skip the row.",
        "",
        "| " + " | ".join(_cell(c) for c in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in items.to_dict("records"):
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


@flow(name="review-queue")
def review_queue(
    config_path: str = "driftline.yaml", limit: int = 20, timeout_s: int = 3600
) -> dict[str, Any]:
    """Show the oldest open review items, wait for a person's answers, record them as labels.

    Args:
        config_path: the project's driftline.yaml.
        limit: open items shown in one form (oldest first).
        timeout_s: seconds to wait for the answers before the run fails (the items stay open).
    """
    log = get_run_logger()
    ws = Workspace(load_config(Path(config_path)))
    items = open_items(ws, limit=limit)
    if items.empty:
        log.info("no open review items: nothing to review")
        return {"status": "nothing_to_review", "recorded": 0}
    facts = load_facts(ws)
    create_markdown_artifact(
        markdown=review_markdown(items, facts),
        key=ARTIFACT_KEY,
        description=f"{len(items)} open review item(s)",
    )
    form = ReviewAnswers.with_initial_data(
        description=f"Type the true label of each row into `answer` ({', '.join(facts.classes)}); "
        "see the review-queue artifact for the rows' features.",
        answers=[
            {
                "review_id": int(r[ID]),
                "row_key": str(r["row_key"]),
                "prediction": str(r["prediction"]),
                ANSWER: "",
            }
            for r in items.to_dict("records")
        ],
        reviewer="",
    )
    log.info("%d review item(s) await a reviewer: resume this run with the answers", len(items))
    answer = pause_flow_run(wait_for_input=form, timeout=timeout_s, poll_interval=2)
    given = pd.DataFrame([{ID: a.review_id, ANSWER: a.answer} for a in answer.answers], columns=[ID, ANSWER])
    run = runtime.flow_run.name
    reviewer = answer.reviewer.strip() or f"prefect flow run {run}"
    done = record_answers(ws, given, reviewer=reviewer, source=f"review-queue run {run}")
    for message in (done.rejected_message, done.unknown_message):
        if message:
            log.warning(message)
    log.info("recorded %d reviewed label(s) from %s", done.recorded, reviewer)
    return {"status": "answered", "reviewer": reviewer, **done.to_dict()}
