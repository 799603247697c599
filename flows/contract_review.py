"""Contract review with a person in the loop, from the CLI or the Prefect UI.

* ``accept_and_reingest``: widen or demote the rules a quarantined batch broke (recorded in the
  contract ledger), then run the batch cycle on its kept raw copy under the same batch id.
  ``driftline contract accept`` calls it.
* the ``contract-review`` flow: publishes the batch's blocking rules as a markdown artifact, then
  pauses for a person's answer (the Prefect UI shows a form: accept, reason, reviewer). Accepting
  does the same as ``contract accept``; declining keeps the batch quarantined, and nothing changes.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from data_contracts.review import ReviewError
from driftline.core.config import load_config
from driftline.services.contract_ops import accept, review
from driftline.services.workspace import Workspace
from flows.artifacts import md
from flows.batch_cycle import batch_cycle


class ReviewAnswer(RunInput):
    """The answer a reviewer gives in the Prefect UI."""

    accept: bool = Field(
        False, description="Accept the batch: widen its blocking rules and ingest it again under its id."
    )
    reason: str = Field("", description="Why the batch is fine (kept in the contract ledger).")
    reviewer: str = Field("", description="Who decides (kept in the contract ledger).")


def accept_and_reingest(
    config_path: Path, batch_id: str, *, reason: str, actor: str | None = None
) -> dict[str, Any]:
    """Accept `batch_id` and ingest its kept raw copy again (the same bytes: the same batch id).

    Returns:
        ``{"ledger": the contract ledger record, "batch": the batch cycle's result}``.

    Raises:
        ReviewError: as ``driftline.services.contract_ops.accept``.
    """
    config_path = Path(config_path).resolve()
    done = accept(Workspace(load_config(config_path)), batch_id, reason=reason, actor=actor)
    with tempfile.TemporaryDirectory() as tmp:
        again = Path(tmp) / done["source"]
        shutil.copyfile(done["raw_path"], again)
        result = batch_cycle(path=str(again), config_path=str(config_path))
    return {"ledger": done["ledger"], "batch": result}


def review_markdown(summary: dict[str, Any], batch_id: str) -> str:
    """The blocking rules that quarantined `batch_id`, as the review artifact shows them."""
    rules = [r for r in summary["rules"] if batch_id in r["batches"]]
    lines = [
        f"# Contract review: batch `{batch_id}`",
        "",
        f"Suite `{summary['suite']}`, version {summary['version']}. Resume this run to answer: "
        "**accept** widens or demotes the rules below from this batch's evidence and ingests the batch "
        "again under its id; leave it unchecked to keep the batch quarantined.",
        "",
        "| rule | column | batches blocked | latest evidence |",
        "|---|---|---|---|",
    ]
    for r in rules:
        evidence = md(r["latest_message"])  # inert: no markup, no links from the data
        column = md(r["column"]) if r["column"] else "(table)"
        lines.append(f"| `{r['rule']}` | {column} | {len(r['batches'])} | {evidence} |")
    for s in summary["streaks"]:
        lines.append(f"\n**Streak:** {s['message']}")
    return "\n".join(lines)


@flow(name="contract-review")
def contract_review(
    batch_id: str | None = None, config_path: str = "driftline.yaml", timeout_s: int = 3600
) -> dict[str, Any]:
    """Show a quarantined batch's blocking rules, wait for a person's answer, then act on it.

    Args:
        batch_id: the quarantined batch to review (default: the newest quarantined one).
        config_path: the project's driftline.yaml.
        timeout_s: seconds to wait for the answer before the run fails (the batch stays quarantined).
    """
    log = get_run_logger()
    ws = Workspace(load_config(Path(config_path)))
    summary = review(ws)
    if not summary["quarantined"]:
        log.info("no quarantined batch: nothing to review")
        return {"status": "nothing_to_review", "batch_id": None}
    batch_id = batch_id or summary["quarantined"][-1]
    if batch_id not in summary["quarantined"]:
        raise ReviewError(f"batch {batch_id!r} is not quarantined; quarantined: {summary['quarantined']}")
    create_markdown_artifact(
        markdown=review_markdown(summary, batch_id),
        key="contract-review",
        description=f"blocking rules of batch {batch_id}",
    )
    log.info("batch %s awaits a reviewer: resume this run with an answer", batch_id)
    answer = pause_flow_run(wait_for_input=ReviewAnswer, timeout=timeout_s, poll_interval=2)
    if answer is None or not answer.accept:
        log.info("batch %s stays quarantined (not accepted)", batch_id)
        return {"status": "kept_quarantined", "batch_id": batch_id}
    if not answer.reason.strip():
        raise ReviewError(f"batch {batch_id}: an answer that accepts must say why in 'reason'")
    reviewer = answer.reviewer.strip() or f"prefect flow run {runtime.flow_run.name}"
    done = accept_and_reingest(Path(config_path), batch_id, reason=answer.reason, actor=reviewer)
    log.info("batch %s accepted by %s: %s", batch_id, reviewer, done["batch"]["status"])
    return {"status": "accepted", "batch_id": batch_id, **done}
