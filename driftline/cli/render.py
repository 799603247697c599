"""Rich rendering of command results for people (the --json output is for programs)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

STATUS_STYLE = {"accepted": "green", "quarantined": "bold red", "duplicate": "yellow"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _num(value: Any) -> str:
    return "—" if value is None else f"{float(value):.3f}"


def render_batch(console: Console, result: dict[str, Any]) -> None:
    """One ingested batch: status, contract, scoring, drift, performance, decision."""
    status = result["status"]
    console.print(
        f"[{STATUS_STYLE.get(status, 'white')}]{status.upper()}[/] batch {result['batch_id']} "
        f"({result.get('source', '')}, {result.get('rows', 0)} rows)"
    )
    if status == "duplicate":
        if result.get("in_progress"):
            console.print("  being processed right now by another command; nothing changed")
        else:
            console.print(f"  seen before (was {result.get('previous_status')}); nothing changed")
        return
    for failure in (result.get("contract") or {}).get("failures", []):
        console.print(f"  contract {failure['severity']}: {failure['message']}", highlight=False)
    if status == "quarantined":
        console.print(f"  report: {result['quarantine']['report_html']}")
        return
    scoring = result.get("scoring")
    if scoring:
        console.print(
            f"  scored by champion v{scoring['model_version']}: {scoring['rows_scored']} rows "
            f"in {scoring['latency_ms']:.0f} ms"
        )
    else:
        console.print("  no champion yet: not scored")
    drift = result.get("drift")
    if drift and drift.get("judged") is False:
        console.print(f"  drift not judged: {drift.get('reason')}", highlight=False)
    elif drift:
        flag = "[bold yellow]DRIFT[/]" if drift["detected"] else "no drift"
        cols = ", ".join(drift["drifted_columns"][:6])
        console.print(
            f"  {flag}: {_pct(drift['share'])} of columns drifted {cols}  report: {drift['report']}"
        )
    for key, metrics in (result.get("performance") or {}).items():
        shown = ", ".join(f"{k} {_num(v)}" for k, v in metrics.items() if k != "n")
        console.print(f"  realized {key} on {metrics.get('n')} labeled rows: {shown}")
    decision = result.get("decision")
    if decision:
        word = "[bold]retrain[/]" if decision["retrain"] else "no retrain"
        console.print(f"  policy: {word} — " + "; ".join(decision["reasons"]), highlight=False)
    retrain = result.get("retrain")
    if retrain:
        render_retrain(console, retrain)


def render_retrain(console: Console, result: dict[str, Any]) -> None:
    if result.get("status") == "not_enough_data":
        console.print(f"  retrain skipped: {result['reason']}")
        return
    if result.get("status") == "failed":
        console.print(
            f"  [bold red]retrain FAILED[/]: {result['error']} (alerted; the batch is done)", highlight=False
        )
        return
    verdict = "[bold green]PROMOTED[/]" if result.get("promoted") else "[bold red]REJECTED[/]"
    if result.get("status") == "shadow":
        verdict = "[yellow]IN SHADOW[/]"
    console.print(f"  retrain → v{result['version']} {verdict}")
    gate = result.get("gate") or {}
    if gate.get("case") == "trivial_baseline":
        console.print(f"    [bold yellow]{gate['summary']}[/]", highlight=False)
    for rule in gate.get("rules", []):
        mark = "[green]✓[/]" if rule["passed"] else "[red]✗[/]"
        console.print(f"    {mark} {rule['message']}", highlight=False)
    if result.get("top_features"):
        console.print(f"    top SHAP features: {', '.join(result['top_features'])}")


def render_status(console: Console, s: dict[str, Any]) -> None:
    b = s["batches"]
    champ = s["champion"]
    console.print(
        f"[bold]{s['project']}[/]: {b['total']} batches ({b['accepted']} accepted, "
        f"{b['quarantined']} quarantined), {s['retrains']} retrains"
    )
    console.print(
        "champion: "
        + (
            "none yet"
            if not champ
            else f"v{champ['version']} (the trivial baseline)"
            if champ.get("trivial")
            else f"v{champ['version']} ({champ['metric']} {champ['holdout_metric']})"
        )
    )
    for alert in s["alerts"]:
        console.print(f"[bold red]alert:[/] {alert}", highlight=False)
    if s["latest_drift"]:
        d = s["latest_drift"]
        console.print(
            f"latest drift ({d['source']}): {_pct(d['share'])} of columns, detected={d['detected']}"
        )
    for q in s["quarantine"]:
        console.print(f"[red]quarantined[/] {q['batch_id']} {q['source']}: {q['reason']}  ({q['report']})")
    for u in s.get("unfinished", []):
        console.print(
            f"[yellow]unfinished[/] #{u['seq']} {u['batch_id']} {u['source']}: stopped after {u['stage']}"
        )
    table = Table("seq", "batch", "source", "status", "rows", "drift", "metric", "champion")
    for r in s["recent"]:
        table.add_row(
            str(r["seq"]),
            r["batch_id"],
            r["source"],
            r["status"],
            str(r["rows"]),
            _pct(r["drift_share"]),
            _num(r["serving_metric"]),
            r["champion_version"] or "—",
        )
    console.print(table)


def render_models(console: Console, m: dict[str, Any]) -> None:
    table = Table("version", "aliases", "status", "metric", "holdout", "gate", "trigger", "top features")
    for v in m["versions"]:
        table.add_row(
            v["version"],
            ",".join(v["aliases"]),
            v["status"] or "—",
            v["metric"] or "—",
            _num(v["holdout_metric"]),
            v["gate"] or "—",
            (v["trigger"] or "—")[:30],
            ", ".join(v["top_features"][:3]),
        )
    console.print(table)
    for e in m["ledger"]:
        move = (
            f"v{e['to_version']} rejected, v{e['from_version']} stays champion"
            if e["action"] == "reject"
            else f"v{e['from_version']} → v{e['to_version']}"
        )
        console.print(f"{e['time']} {e['action']}: {move} ({e['trigger']}; by {e['actor']})", highlight=False)
