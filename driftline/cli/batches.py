"""Batches in: `ingest`, `recover` (unfinished batches) and late `labels`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from driftline.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_QUARANTINED,
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    err,
    fail,
    open_project,
    out,
    print_json,
    quiet_libraries,
)
from driftline.cli.render import render_batch
from driftline.core import progress
from driftline.core.batch_io import BatchReadError, RawCopyError
from driftline.core.config import CONFIG_FILE, ConfigError, load_config
from driftline.services.intake import worker_alive
from driftline.store.state import StateStore
from flows.batch_cycle import batch_cycle
from flows.labels import deliver_labels


def ingest(
    files: Annotated[list[Path], typer.Argument(help="Batch files (CSV or Parquet), in order.")],
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
    retrain: Annotated[bool, typer.Option(help="Let the policy retrain after a batch.")] = True,
) -> None:
    """Run batch files through the batch-cycle flow: contract, score, drift, labels, decide.

    Exit status: 0 accepted or duplicate, 3 quarantined, 2 bad usage or config, 1 anything else.
    """
    for path in files:
        if not path.is_file():
            raise fail(f"{path}: {'is a directory' if path.is_dir() else 'file not found'}", EXIT_USAGE)
    open_project(config)
    quiet_libraries()
    raise typer.Exit(run_batches([str(p.resolve()) for p in files], config, as_json=as_json, retrain=retrain))


def recover(
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
    retrain: Annotated[bool, typer.Option(help="Let the policy retrain after a batch.")] = True,
) -> None:
    """Finish the batches a crash or an error left unfinished (redone from their kept raw copy)."""
    cfg = open_project(config)
    quiet_libraries()

    stuck = [b for b in StateStore(cfg.database_url).unfinished_batches() if not worker_alive(b.worker)]
    if not stuck:
        if as_json:
            print_json([])
        else:
            out.print("no unfinished batches")
        return
    raise typer.Exit(run_batches([b.raw_path for b in stuck], config, as_json=as_json, retrain=retrain))


def run_batches(paths: list[str], config: Path, *, as_json: bool, retrain: bool) -> int:
    """Each file through the batch-cycle flow, in order; returns the exit code. A failure stops the
    run with one line, after the results so far are printed (as JSON with `--json`)."""

    code = EXIT_OK
    results: list[dict[str, Any]] = []
    for path in paths:
        try:
            with progress.shown(err, title=f"ingest {Path(path).name}", enabled=not as_json):
                result = batch_cycle(path=path, config_path=str(config.resolve()), allow_retrain=retrain)
        except ConfigError as e:
            _print_results(results, as_json)
            raise fail(str(e), EXIT_USAGE) from None
        except RawCopyError as e:  # not taken in (a full disk): nothing to recover, the file is untouched
            _print_results([*results, {"source": path, "status": "failed", "error": str(e)}], as_json)
            raise fail(str(e)) from None
        except Exception as e:  # one line for the user; the flow run keeps the trace
            message = f"{path}: {type(e).__name__}: {e}".splitlines()[0] + _full_disk_hint(e, config)
            _print_results([*results, {"source": path, "status": "failed", "error": message}], as_json)
            raise fail(f"{message} (the batch is kept; `driftline recover` redoes it)") from None
        results.append(result)
        if result["status"] == "quarantined":
            code = EXIT_QUARANTINED
        if not as_json:
            render_batch(out, result)
    _print_results(results, as_json)
    return code


def _full_disk_hint(error: BaseException, config: Path) -> str:
    """For "No space left on device" without a file name: which of the project's stores is full."""
    import errno
    import shutil

    if not isinstance(error, OSError) or error.errno != errno.ENOSPC or error.filename:
        return ""
    cfg = load_config(config)
    places = [cfg.artifact_root, cfg.root / "batches", cfg.root / "reports", cfg.root]
    free = {p: shutil.disk_usage(p).free for p in places if p.exists()}
    if not free:
        return ""
    fullest = min(free, key=lambda p: free[p])
    return f" ({fullest} has {free[fullest] / 2**20:.1f} MiB free)"


def _print_results(results: list[dict[str, Any]], as_json: bool) -> None:
    if as_json and results:
        print_json(results[0] if len(results) == 1 else results)


def labels(
    file: Annotated[Path, typer.Argument(help="CSV/Parquet with the id column and the target.")],
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
) -> None:
    """Deliver ground-truth labels late; realized metrics of the batches they belong to update.

    Labels a model cannot learn from (an unknown class, a non-numeric regression target) and ids
    that match no scored row are not recorded: exit 1, with the reason and where they are kept.
    """
    if not file.is_file():
        raise fail(f"{file}: {'is a directory' if file.is_dir() else 'file not found'}", EXIT_USAGE)
    open_project(config)
    quiet_libraries()

    try:
        result = deliver_labels(path=str(file.resolve()), config_path=str(config.resolve()))
    except (BatchReadError, ConfigError) as e:
        raise fail(str(e), EXIT_USAGE) from None
    if as_json:
        print_json(result)
    else:
        out.print(f"recorded {result['recorded']} labels for {len(result['batches'])} batch(es)")
        for batch_id, perf in result["performance"].items():
            out.print(f"  {batch_id}: {perf}")
    # soft_wrap: one line each, whatever the width (a log file or a pipe gets 80 columns)
    if result["rejected"]:
        kept = (
            f"; not recorded, kept in {result['quarantine']}"
            if result.get("quarantine")
            else "; not recorded"
        )
        err.print(f"[bold red]error:[/] {result['rejected_message']}{kept}", highlight=False, soft_wrap=True)
    if result["unknown"]:
        err.print(f"[bold red]error:[/] {result['unknown_message']}", highlight=False, soft_wrap=True)
    if result["unknown"] or result["rejected"]:
        raise typer.Exit(EXIT_ERROR)
