"""`driftline demo`: the drift → retrain → gate → promote story on real data, with progress."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from driftline.cli.common import EXIT_USAGE, fail, out, quiet_libraries
from driftline.core.env import apply_process_env
from driftline.jobs.demo import prepare_directory, run_demo
from driftline.ops import local_api


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Folder for the demo project.")] = Path(
        "driftline-demo"
    ),
    months: Annotated[int, typer.Option(help="Monthly batches after Jan–Feb (1–10).", min=1, max=10)] = 10,
    sample: Annotated[
        float,
        typer.Option(
            help="Fraction of flights used, ~8,000 a month at 0.3; 1.0 = all 336,776 (about 4 min).",
            min=0.01,
            max=1.0,
        ),
    ] = 0.3,
) -> None:
    """Run the whole loop on 2013 NYC flights: contract, drift, retrain, gate, promotion, SHAP."""

    try:
        folder = prepare_directory(directory)
    except ValueError as e:
        raise fail(str(e), EXIT_USAGE) from None
    apply_process_env({"PREFECT_HOME": str(folder / ".driftline" / "prefect")})
    local_api.connect_soon(folder / ".driftline" / "prefect")  # starts while the batches are written
    quiet_libraries()
    started = time.perf_counter()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=False) as bar:
        current = bar.add_task("starting", total=None)

        def step(message: str) -> None:
            bar.update(current, description=f"[bold]{message}[/]")
            bar.console.print(f"→ {message}")

        result = run_demo(folder, months=months, sample=sample, progress=step)
        bar.update(current, description="done")
    render_demo(result, seconds=time.perf_counter() - started)


def render_demo(result, *, seconds: float) -> None:  # type: ignore[no-untyped-def]
    table = Table(
        "batch",
        "status",
        "rows",
        "drift share",
        "serving champion",
        "AUC",
        "action",
        title="Driftline demo — 2013 NYC flights, target: arrival > 15 min late",
    )
    for r in result.rows:
        style = {"quarantined": "red", "accepted": "green"}.get(r.status, "")
        table.add_row(
            r.batch,
            f"[{style}]{r.status}[/]",
            f"{r.rows:,}",
            _drift_cell(r.drift_share, r.drift_detected),
            f"v{r.champion}" if r.champion else "—",
            "—" if r.auc is None else f"{r.auc:.3f}",
            r.action,
        )
    out.print(table)
    if result.gate:
        g = result.gate
        out.print(f"[bold]Latest gate decision[/] (v{g['version']}): {g['verdict'].upper()}")
        for rule in g["rules"]:
            mark = "[green]✓[/]" if rule["passed"] else "[red]✗[/]"
            out.print(f"  {mark} {rule['message']}", highlight=False)
    if result.shap and result.shap["top"]:
        s = result.shap
        top = ", ".join(f"{r['feature']} {r['mean_abs_shap']:.3f}" for r in s["top"])
        out.print(f"[bold]Why the champion v{s['version']} predicts what it does[/] (mean |SHAP|): {top}")
        out.print(f"  beeswarm and bar plots: MLflow run {s['run_id']}, artifacts shap/")
    d = result.directory
    out.print(f"finished in {seconds:.0f} s. Where to look next:")
    out.print(f"  quarantine report: {result.quarantine_report}")
    out.print(f"  latest drift report: {result.drift_report}")
    out.print(f"  models, gate decisions, ledger:  cd {d} && driftline models")
    out.print(f"  batches and drift:               cd {d} && driftline status")
    out.print(f"  the UIs (MLflow: SHAP plots, drift reports; Prefect: flow runs): cd {d} && driftline up")


def _drift_cell(share: float | None, detected: bool) -> str:
    if share is None:
        return "—"
    return f"{100 * share:.0f}%" + (" [yellow]drift[/]" if detected else "")
