"""Prefect artifacts: what a batch, a gate and a replay decided, on the Prefect UI's Artifacts page.

Artifacts are a view of the plain dicts the flows already return. Each is keyed per project
(``<project>-batch-summary``, ...) so the Artifacts page keeps one versioned history per key. Every
data-derived string is escaped (column names and values come from the data), and a publisher never
raises into the flow: a failure is a warning in the run's log, and outside a flow or task run a
publisher does nothing.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, cast
from urllib.parse import quote, urlsplit
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext, TaskRunContext

BATCH_SUMMARY = "batch-summary"
CONTRACT_FAILURES = "contract-failures"
COLUMN_DRIFT = "column-drift"
DRIFT_REPORT = "drift-report"
GATE_DECISION = "gate-decision"
REPLAY_PROGRESS = "replay-progress"
KINDS = (BATCH_SUMMARY, CONTRACT_FAILURES, COLUMN_DRIFT, DRIFT_REPORT, GATE_DECISION, REPLAY_PROGRESS)
LINK_SCHEMES = ("http", "https", "file")  # never javascript: or data: from a config value
# Markdown punctuation that could turn data into emphasis, code, links or table cells.
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")

P = ParamSpec("P")
Progress = Callable[[dict[str, Any]], None]


def artifact_key(project: str, kind: str) -> str:
    """``<project>-<kind>`` as a Prefect artifact key (lowercase letters, digits and dashes only).

    Raises:
        ValueError: ``kind`` is not one of ``KINDS``.
    """
    if kind not in KINDS:
        raise ValueError(f"artifact kind must be one of {KINDS}, got {kind!r}")
    slug = re.sub(r"[^a-z0-9]+", "-", str(project).lower()).strip("-") or "project"
    return f"{slug}-{kind}"


def md(value: Any) -> str:
    """Data as inert markdown text: HTML-escaped, markdown punctuation escaped, on one line."""
    text = html.escape(" ".join(str(value).split()), quote=False)
    return _MARKDOWN.sub(r"\\\1", text)


def _cell(value: Any) -> Any:
    """A table-artifact cell: numbers, booleans and None as they are, text as ``md`` (Prefect's UI
    renders each cell as markdown: a raw ``[x](javascript:...)`` would become a link)."""
    return value if value is None or isinstance(value, bool | int | float) else md(value)


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return md(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _view(fn: Callable[P, None]) -> Callable[P, None]:
    """Run a publisher only inside a flow or task run; any failure becomes a logged warning."""

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        if FlowRunContext.get() is None and TaskRunContext.get() is None:
            return
        try:
            fn(*args, **kwargs)
        except Exception as err:  # artifacts are a view: they never fail a run
            message = f"{type(err).__name__}: {err}".splitlines()[0]
            get_run_logger().warning("Prefect artifact not published (%s): %s", fn.__qualname__, message)

    return guarded


def _create(make: Callable[..., Any], **kwargs: Any) -> UUID:
    # Synchronously, in sync and async runs alike: the API otherwise returns an un-awaited coroutine.
    return cast(UUID, make(**kwargs, _sync=True))


# --- the batch cycle ------------------------------------------------------------------------------


@_view
def publish_batch(project: str, result: Mapping[str, Any], *, drift_report_uri: str | None = None) -> None:
    """Publish one batch's outcome: a markdown summary, its contract failures and per-column drift
    as tables (when there are any), and a link to the drift report (when ``drift_report_uri``).

    Args:
        project: the project name (keys the artifacts).
        result: what ``flows.batch_cycle.run_batch`` returns (a quarantined batch: its state's data).
        drift_report_uri: an http(s) or file URI, or an absolute path, of the batch's drift report.
    """
    summary = batch_markdown(result)
    failures = failure_rows(result.get("contract"))
    drift = drift_rows(result.get("drift"))
    batch = md(result.get("batch_id"))
    _create(
        create_markdown_artifact,
        markdown=summary,
        key=artifact_key(project, BATCH_SUMMARY),
        description=f"batch {batch}: {md(result['status'])}",
    )
    if failures:
        _create(
            create_table_artifact,
            table=failures,
            key=artifact_key(project, CONTRACT_FAILURES),
            description=f"contract failures of batch {batch}",
        )
    if drift:
        _create(
            create_table_artifact,
            table=drift,
            key=artifact_key(project, COLUMN_DRIFT),
            description=f"per-column drift of batch {batch}",
        )
    if drift_report_uri:
        _create(
            create_link_artifact,
            link=safe_link(drift_report_uri),
            link_text=f"drift report of batch {batch}",
            key=artifact_key(project, DRIFT_REPORT),
            description=f"Evidently drift report of batch {batch}",
        )


def batch_markdown(result: Mapping[str, Any]) -> str:
    """The batch summary: status, rows, contract, drift, realized metric, retrain decision."""
    status = str(result["status"])
    lines = [
        f"# Batch {md(result.get('batch_id'))}: {md(status.upper())}",
        "",
        f"Source **{md(result.get('source'))}**, {_num(result.get('rows'))} rows"
        + (f", batch #{_num(result['seq'])}" if result.get("seq") is not None else "")
        + ".",
    ]
    if status == "duplicate":
        again = " It is still being processed." if result.get("in_progress") else ""
        lines += [
            "",
            f"Already ingested (status {md(result.get('previous_status'))}): nothing redone.{again}",
        ]
        return "\n".join(lines)
    contract = result.get("contract") or {}
    lines += ["", "## Contract", "", _contract_line(contract)]
    blocking = [f for f in contract.get("failures") or [] if f.get("severity") == "block"]
    lines += [f"- {md(f.get('message') or f.get('rule'))}" for f in blocking]
    if status != "accepted":
        return "\n".join(lines)
    lines += ["", "## Drift", "", _drift_line(result.get("drift"))]
    lines += ["", "## Realized performance", "", _performance_line(result)]
    decision = result.get("decision") or {}
    triggers = ", ".join(md(t) for t in decision.get("triggers") or []) or "none"
    verdict = "yes" if decision.get("retrain") else "no"
    lines += ["", "## Retrain decision", "", f"**Retrain: {verdict}** (triggers: {triggers})", ""]
    lines += [f"- {md(reason)}" for reason in decision.get("reasons") or []]
    if result.get("retrain"):
        lines += ["", f"Retrain: {_retrain_line(result['retrain'])}"]
    if result.get("labels_rejected"):
        lines += ["", f"> **Labels rejected:** {md(result['labels_rejected'])}"]
    return "\n".join(lines)


def _contract_line(contract: Mapping[str, Any]) -> str:
    if not contract:
        return "not checked"
    checks = f"{_num(contract.get('passed'))}/{_num(contract.get('evaluated'))} checks passed"
    counts = (
        f"{_num(contract.get('blocking_count'))} blocking, {_num(contract.get('warning_count'))} warnings"
    )
    return f"**{md(contract.get('verdict'))}**: {checks}, {counts} (suite {md(contract.get('suite_name'))})."


def _drift_line(drift: Mapping[str, Any] | None) -> str:
    if drift is None:
        return "not computed: no reference data yet."
    if not drift.get("judged", True) or drift.get("share") is None:
        return f"not judged: {md(drift.get('reason'))}"
    verdict = "DRIFT DETECTED" if drift.get("detected") else "no dataset drift"
    drifted = ", ".join(md(c) for c in drift.get("drifted_columns") or []) or "none"
    return (
        f"**{verdict}**: drift share {drift['share']:.0%} of {_num(drift.get('n_columns'))} columns "
        f"(threshold {float(drift['drift_share_threshold']):.0%}); drifted columns: {drifted}."
    )


def _performance_line(result: Mapping[str, Any]) -> str:
    performance = result.get("performance") or {}
    version = (result.get("scoring") or {}).get("model_version")
    champions = (k for k in performance if str(k).startswith("champion:"))
    key = f"champion:{version}" if version is not None else next(champions, None)
    metrics = performance.get(key) if key else None
    if not metrics:
        return "not measured: no labels arrived with this batch."
    shown = ", ".join(f"{md(name)} {_num(value)}" for name, value in metrics.items() if name != "n")
    role, _, served = str(key).partition(":")
    return f"{md(role)} v{md(served)} on {_num(metrics.get('n'))} labeled rows: {shown}."


def _retrain_line(retrain: Mapping[str, Any]) -> str:
    status = str(retrain.get("status"))
    if status == "failed":
        return f"**FAILED**: {md(retrain.get('error'))}"
    if retrain.get("version") is None:
        return f"{md(status)}: {md(retrain.get('reason'))}"
    outcome = (
        "promoted" if retrain.get("promoted") else ("in shadow" if status == "shadow" else "not promoted")
    )
    summary = (retrain.get("gate") or {}).get("summary")
    return f"v{md(retrain['version'])} {outcome}" + (f": {md(summary)}" if summary else "")


def failure_rows(contract: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The contract failures as table rows (rule, column, severity, unexpected %, message)."""
    return [
        {
            "rule": _cell(f["rule"]),
            "column": _cell(f.get("column") or "(table)"),
            "severity": _cell(f.get("severity")),
            "unexpected %": _cell(f.get("unexpected_percent")),
            "message": _cell(f.get("message")),
        }
        for f in (contract or {}).get("failures") or []
    ]


def drift_rows(drift: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Per-column drift as table rows, the prediction column last; none when not judged."""
    if not drift or not drift.get("judged", True):
        return []
    columns = list(drift.get("columns") or []) + ([drift["prediction"]] if drift.get("prediction") else [])
    keys = ("column", "method", "score", "threshold", "drifted", "kind")
    return [{k: _cell(c.get(k)) for k in keys} for c in columns]


def safe_link(uri: str) -> str:
    """``uri`` (or an absolute path) as a percent-encoded http(s)/file link.

    Raises:
        ValueError: any other scheme, or a relative path.
    """
    if "://" not in uri and Path(uri).is_absolute():
        uri = Path(uri).as_uri()
    scheme = urlsplit(uri).scheme.lower()
    if scheme not in LINK_SCHEMES:
        raise ValueError(f"link {uri!r}: scheme must be one of {LINK_SCHEMES}")
    return quote(uri, safe=":/?#@!$&+,;=%~")  # parentheses, quotes, spaces, < > encoded


# --- the gate -------------------------------------------------------------------------------------


@_view
def publish_gate_decision(project: str, retrain_result: Mapping[str, Any] | None) -> None:
    """Publish what a retrain decided (any return shape of ``run_retrain``); None publishes nothing."""
    if retrain_result is None:
        return
    _create(
        create_markdown_artifact,
        markdown=gate_markdown(retrain_result),
        key=artifact_key(project, GATE_DECISION),
        description=f"gate: {md(retrain_result['status'])}",
    )


def gate_markdown(retrain: Mapping[str, Any]) -> str:
    """The gate decision: headline, versions, champion vs challenger, reasons and rules."""
    status, gate = str(retrain["status"]), retrain.get("gate") or {}
    version = md(retrain.get("version"))
    if status == "failed":
        head = "RETRAIN FAILED"
    elif status == "shadow":
        head = f"v{version} IN SHADOW: the gate waits for labeled rows both models scored"
    elif retrain.get("version") is None:
        head = md(status.replace("_", " ").upper())
    elif gate.get("case") == "trivial_baseline" and retrain.get("promoted"):
        head = f"TRIVIAL BASELINE v{version} PROMOTED"
    else:
        head = f"v{version} {'PROMOTED' if retrain.get('promoted') else 'REJECTED'}"
    lines = [f"# Gate: {head}" + (" (FORCED)" if gate.get("forced") else ""), ""]
    why = retrain.get("reason")  # the trigger, except when there was too little data to train
    if why and status != "not_enough_data":
        lines.append(f"Trigger: {md(why)}")
    gated = retrain.get("gated_version")
    if gated is not None and gated != retrain.get("version"):
        lines.append(f"Gated as v{md(gated)}; v{version} is its refit on the whole window.")
    if gate.get("challenger") is not None:
        lines += ["", *_metric_table(gate)]
    if gate.get("summary"):
        lines += ["", md(gate["summary"])]
    untrained = why if status == "not_enough_data" else None
    reasons = gate.get("reasons") or [retrain.get("error") or untrained or "no gate ran yet"]
    lines += ["", "## Reasons", "", *(f"- {md(r)}" for r in reasons)]
    if gate.get("rules"):
        lines += ["", "## Rules", "", "| rule | verdict | message |", "|---|---|---|"]
        for rule in gate["rules"]:
            verdict = "pass" if rule.get("passed") else "**FAIL**"
            lines.append(f"| {md(rule.get('name'))} | {verdict} | {md(rule.get('message'))} |")
    return "\n".join(lines)


def _metric_table(gate: Mapping[str, Any]) -> list[str]:
    interval = ""
    if gate.get("ci_low") is not None and gate.get("ci_high") is not None:
        interval = f" [{gate['ci_low']:+.4g}, {gate['ci_high']:+.4g}]"
    difference = "n/a" if gate.get("difference") is None else f"{gate['difference']:+.4g}{interval}"
    champion = "none (no champion)" if gate.get("champion") is None else _num(gate["champion"])
    return [
        f"| {md(gate.get('case'))}, n={_num(gate.get('n'))} | {md(gate.get('metric'))} |",
        "|---|---|",
        f"| challenger | {_num(gate['challenger'])} |",
        f"| champion | {champion} |",
        f"| trivial baseline | {_num(gate.get('baseline'))} |",
        f"| difference (challenger - champion) | {difference} |",
    ]


# --- replay ---------------------------------------------------------------------------------------


class ReplayProgress:
    """The replay's progress (0-100) as a progress artifact: created by ``start``, updated per batch.

    Also usable as the replay flow's ``progress`` callback: ``forward`` (the CLI's display) gets
    every event first, then ``start`` / ``batch`` / ``done`` events move the bar.
    """

    def __init__(self, project: str, *, forward: Progress | None = None) -> None:
        self.key = artifact_key(project, REPLAY_PROGRESS)
        self.forward = forward
        self.total = 0
        self.done = 0
        self.artifact_id: UUID | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        if self.forward is not None:
            self.forward(event)
        self._follow(event)

    @_view
    def _follow(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "start":
            self.start(int(event["total"]))
        elif kind == "batch":
            self.advance()
        elif kind == "done":
            self.advance(self.total)

    @_view
    def start(self, total: int) -> None:
        """Create the progress artifact at 0% of ``total`` batches."""
        self.total, self.done = int(total), 0
        self.artifact_id = _create(
            create_progress_artifact, progress=0.0, key=self.key, description=self._describe()
        )

    @_view
    def advance(self, done: int | None = None) -> None:
        """Move the bar to ``done`` batches (default: one more than before)."""
        self.done = self.done + 1 if done is None else int(done)
        if self.artifact_id is None:
            return
        share = 100.0 if self.total <= 0 else min(100.0, 100.0 * self.done / self.total)
        _create(
            update_progress_artifact,
            artifact_id=self.artifact_id,
            progress=share,
            description=self._describe(),
        )

    def _describe(self) -> str:
        return f"replay: {self.done}/{self.total} batches"
