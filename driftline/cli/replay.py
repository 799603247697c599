"""`driftline replay`: a historical file, batch by batch, through the real cycle (test-then-train)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from driftline.cli.common import EXIT_USAGE, err, fail, out, quiet_libraries
from driftline.core.batch_io import BatchReadError, read_table
from driftline.core.config import CONFIG_FILE, ConfigError, load_config
from driftline.core.env import apply_process_env, exit_on_sigterm
from driftline.ops import local_api, prefect_settings
from driftline.services.replay import POLICIES, ReplayError, plan_replay
from driftline.services.replay_plot import plot_compare
from flows.replay import replay as replay_flow

TASKS = ("auto", "binary", "multiclass", "regression")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _cells(r: dict[str, Any]) -> dict[str, str]:
    """One batch record as short display texts."""
    status = "warmup" if r["phase"] == "warmup" and r["status"] == "accepted" else r["status"]
    forced = " forced" if r["forced"] else ""
    return {
        "batch": str(r["batch"]),
        "period": r["label"],
        "rows": f"{r['rows']:,}",
        "status": status,
        "drift": _fmt(r["drift_share"], 2),
        "model": f"v{r['champion']}" if r["champion"] else "—",
        "metric": _fmt(r["metric"]),
        "retrain": f"v{r['retrain']} {r['gate'] or ''}".strip() if r["retrain"] else "—",
        "champion": f"→ v{r['promoted']}{forced}" if r["promoted"] else "",
    }


def _line(r: dict[str, Any]) -> str:
    c = _cells(r)
    retrain = f"retrain {c['retrain']}" if r["retrain"] else ""
    return (
        f"batch {c['batch']:>3} {c['period']}  {c['rows']:>7} rows  {c['status']:<11} drift {c['drift']}"
        f"  {retrain}  {c['champion']}".rstrip()
    )


def _run_one(policy: str, *, total_hint: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    with Progress(
        TextColumn(f"[bold]{policy:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as bar:
        job = bar.add_task(policy, total=total_hint)

        def progress(event: dict[str, Any]) -> None:
            if event["event"] == "batch":
                bar.console.print(_line(event), highlight=False)
                bar.update(job, completed=event["batch"])

        return cast(dict[str, Any], replay_flow(progress=progress, **kwargs))


def _worker_home(root: str, workers: int) -> None:
    """A `--compare` worker's start: it talks to the parent's API; without one (the local API
    turned off), its own Prefect home (two temporary APIs on one SQLite file lock each other out).
    Its share of the cores for OpenMP (gradient boosting): N workers that each spin a thread per
    core would oversubscribe the machine. Set before any library that reads it is imported."""

    exit_on_sigterm()
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    if not os.environ.get("PREFECT_API_URL"):
        os.environ["PREFECT_HOME"] = str(Path(root) / f"prefect-worker-{os.getpid()}")


def replay_in_worker(kwargs: dict[str, Any]) -> dict[str, Any]:
    """One policy's replay in a worker process of `--compare` (spawned: a fresh interpreter)."""

    apply_process_env()
    quiet_libraries()
    return cast(dict[str, Any], replay_flow(**kwargs))


# `--compare` starts the costliest policies first (expanding fits a growing window at every
# batch, always a fixed one, driftline now and then, never not at all), so a worker that is done
# takes the cheap ones and the last to finish is not the costliest one started last.
_COST_ORDER = ("expanding", "always", "driftline", "never")


def _run_parallel(
    policies: list[str], *, kwargs: dict[str, Any], root: Path, workers: int
) -> dict[str, dict[str, Any]]:
    """`--compare`: the policies in `workers` spawned processes; a line as each one finishes."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    done: dict[str, dict[str, Any]] = {}
    out.print(f"replaying {len(policies)} policies in {workers} worker processes", highlight=False)
    with (
        out.status("replaying", spinner="dots"),
        ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_worker_home,
            initargs=(str(root), workers),
        ) as pool,
    ):
        futures = {
            pool.submit(replay_in_worker, {**kwargs, "policy": p, "directory": str(root / p)}): p
            for p in sorted(policies, key=_COST_ORDER.index)
        }
        for future in as_completed(futures):
            policy = futures[future]
            done[policy] = future.result()
            out.print(f"{policy}: finished", highlight=False)
    return {p: done[p] for p in policies}


def _per_batch_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"replay · policy {summary['policy']}", title_justify="left")
    names = ("batch", "period", "rows", "status", "drift", "model", summary["metric"], "retrain", "champion")
    for name in names:
        table.add_column(
            name, justify="right" if name in ("batch", "rows", "drift") else "left", no_wrap=True
        )
    for r in summary["per_batch"]:
        table.add_row(*_cells(r).values())
    return table


def _totals(summary: dict[str, Any]) -> str:
    return (
        f"mean {summary['metric']} {_fmt(summary['mean_score'])} over {summary['scored']} scored batch(es); "
        f"{summary['retrains']} retrain(s), {summary['promotions']} promotion(s), "
        f"{summary['quarantined']} quarantined, champion v{summary['initial_champion']} → "
        f"v{summary['final_champion']}"
    )


def compare_rows(summaries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per policy for the `--compare` table and JSON."""
    keys = ("mean_score", "scored", "retrains", "promotions", "quarantined", "final_champion")
    return [{"policy": policy, **{k: s.get(k) for k in keys}} for policy, s in summaries.items()]


def _compare_table(summaries: dict[str, dict[str, Any]]) -> Table:
    metric = next(iter(summaries.values()))["metric"]
    table = Table(title="replay · policies compared on the same batches", title_justify="left")
    for name in ("policy", f"mean {metric}", "scored", "retrains", "promotions", "quarantined", "champion"):
        table.add_column(name, justify="left" if name == "policy" else "right")
    for row in compare_rows(summaries):
        table.add_row(
            row["policy"],
            _fmt(row["mean_score"]),
            str(row["scored"]),
            str(row["retrains"]),
            str(row["promotions"]),
            str(row["quarantined"]),
            f"v{row['final_champion']}",
        )
    return table


def replay(
    file: Annotated[Path, typer.Argument(help="Historical data with labels (CSV/Parquet).")],
    target: Annotated[str, typer.Option("--target", help="Target column.")],
    time_column: Annotated[
        str, typer.Option("--time-column", help="Event time column (orders the batches).")
    ],
    freq: Annotated[
        str | None, typer.Option(help="One batch per period: a pandas alias (D, W, 2W, M, Y).")
    ] = None,
    rows: Annotated[int | None, typer.Option(help="Or one batch per N rows.", min=1)] = None,
    id_column: Annotated[
        str | None, typer.Option(help="Row id column (a synthetic one is made if needed).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="auto, binary, multiclass or regression.")] = None,
    label_lag: Annotated[int, typer.Option(help="Batches after which a batch's labels arrive.", min=0)] = 0,
    policy: Annotated[
        str, typer.Option(help="driftline (retrain policy), never, always, or expanding (all history).")
    ] = "driftline",
    warmup: Annotated[int, typer.Option(help="Leading batches that train the first champion.", min=2)] = 2,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the summary JSON to this file.")
    ] = None,
    compare: Annotated[bool, typer.Option(help="Run every policy on the same batches.")] = False,
    workers: Annotated[
        int, typer.Option(help="With --compare: policies replayed at once, one process each.", min=1)
    ] = min(2, os.cpu_count() or 1),
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Folder for the replay projects (default: temp).")
    ] = None,
) -> None:
    """Replay FILE as time-ordered batches through the real batch cycle, test-then-train.

    Each batch is scored by the champion in service before its labels are used. Settings other
    than the columns come from ./driftline.yaml when there is one. Each policy gets a fresh
    project folder under --dir; the plot and JSON are logged to that project's MLflow.
    """
    quiet_libraries()

    if task is not None and task not in TASKS:
        raise fail(f"--task {task!r}: use one of {', '.join(TASKS)}", EXIT_USAGE)
    base = Path(CONFIG_FILE).resolve() if Path(CONFIG_FILE).is_file() else None
    options: dict[str, Any] = dict(target=target, time_column=time_column, freq=freq, rows=rows)
    options.update(label_lag=label_lag, warmup=warmup, policy=policy)
    try:
        base_id = load_config(base).data.id_column if base else None
        plan = plan_replay(read_table(file), id_column=id_column or base_id, **options)
    except (BatchReadError, ReplayError, ConfigError) as e:
        raise fail(str(e), EXIT_USAGE) from None
    policies = list(POLICIES) if compare else [policy]
    root = _prepare_root(directory, policies)
    for note in plan.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    out.print(
        f"{file}: {len(plan.batches)} batches ({warmup} warmup), label lag {label_lag}; projects in {root}"
    )
    kwargs = {**options, "path": str(file.resolve()), "id_column": id_column, "task": task}
    kwargs["config_path"] = str(base) if base else None
    summaries: dict[str, dict[str, Any]] = {}
    try:
        if compare and workers > 1:
            summaries = _run_parallel(policies, kwargs=kwargs, root=root, workers=workers)
        else:
            for p in policies:
                run_kwargs = {**kwargs, "policy": p, "directory": str(root / p)}
                summaries[p] = _run_one(p, total_hint=len(plan.batches), kwargs=run_kwargs)
    except (ReplayError, ConfigError, BatchReadError) as e:
        raise fail(str(e), EXIT_USAGE) from None
    for p in policies:
        if not compare:
            out.print(_per_batch_table(summaries[p]))
        for warning in summaries[p]["warnings"]:
            err.print(f"[bold red]{p}: {warning}[/]", highlight=False)
        made = summaries[p]["artifacts"]
        out.print(f"{p}: {_totals(summaries[p])}\n  plot {made['png']} · MLflow run {made['mlflow_run_id']}")
    result: dict[str, Any] = summaries[policy]
    if compare:
        plot = plot_compare(summaries, root / "compare.png")
        result = {"policies": summaries, "compare": compare_rows(summaries), "plot": str(plot)}
        out.print(_compare_table(summaries))
        out.print(f"plot {plot}")
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2, default=str, allow_nan=False) + "\n")
        out.print(f"wrote {json_out}")


def _prepare_root(directory: Path | None, policies: list[str]) -> Path:
    """The folder holding one fresh project per policy; Prefect's home goes there unless set."""

    root = (directory or Path(tempfile.mkdtemp(prefix="driftline-replay-"))).resolve()
    for p in policies:
        if (root / p / CONFIG_FILE).exists():
            raise fail(f"{root / p}: holds a project already; a replay needs a fresh --dir", EXIT_USAGE)
    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(root / "prefect"))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    apply_process_env()
    local_api.connect(Path(os.environ["PREFECT_HOME"]))  # one API for every --compare worker
    prefect_settings.reload()
    return root
