"""The `driftline` command line: the product's face. Heavy libraries load only inside commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from driftline import local_api, progress
from driftline.config import (
    CONFIG_FILE,
    TRACKING_URI_ENV,
    ConfigError,
    DriftlineConfig,
    dump_config,
    load_config,
    mask_credentials,
)
from driftline.relocate import relocate_project, sqlite_file

app = typer.Typer(
    name="driftline",
    help="Keep a production model healthy: contracts, drift, retraining, a shadow gate, rollback.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
config_app = typer.Typer(help="Show the resolved configuration.", no_args_is_help=True)
contract_app = typer.Typer(help="Create and inspect the data contract.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(contract_app, name="contract")

out = Console()
err = Console(stderr=True)
if not out.is_terminal:  # piped or captured: wide enough that tables keep one line per row
    out.width = max(out.width, 140)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_QUARANTINED = 0, 1, 2, 3

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Project config file.", show_default=True)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print one error line and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def open_project(
    config_path: Path, *, read_only: bool = False, creates: bool = True, connect_api: bool = True
) -> DriftlineConfig:
    """Load and validate the config once, then set the process environment for this project
    (`read_only`: only load it; nothing is created or started. `creates=False`: the environment
    is set, but no folder is made and no API started. `connect_api`: unless `up` runs, flows go
    to the project's shared local Prefect API, started if none answers: see driftline.local_api)."""
    from driftline.env import apply_process_env

    try:
        cfg = load_config(config_path)
    except ConfigError as e:
        raise fail(str(e), EXIT_USAGE) from None
    if read_only:
        return cfg
    moved = relocate_project(cfg)
    if moved is not None:
        err.print(f"[yellow]note:[/] {moved.describe()}", highlight=False, soft_wrap=True)
    apply_process_env({"PREFECT_HOME": str(cfg.prefect_home)})
    if creates:
        cfg.prefect_home.mkdir(parents=True, exist_ok=True)
    from driftline.processes import reap_orphan_prefect_servers

    for pid in reap_orphan_prefect_servers(cfg.prefect_home):
        err.print(
            f"[yellow]note:[/] stopped an orphaned Prefect server (pid {pid}) a killed command left",
            highlight=False,
        )
    cfg = use_running_servers(cfg, config_path)
    if creates and connect_api:
        with progress.shown(err, title="connecting to the project's Prefect API", enabled=True):
            local_api.connect(cfg.prefect_home)
    return cfg


def open_for_reading(config_path: Path, *, as_json: bool = False) -> DriftlineConfig:
    """For commands that only read. When the project has no storage yet (a fresh clone of a
    project repository: the config and contract are in git, the stores are not), one line says so
    and the command exits 0 having created nothing; otherwise the project opens without creating
    any folder."""
    cfg = open_project(config_path, read_only=True)
    if not has_storage(cfg):
        if as_json:
            print_json({"project": cfg.project, "storage": str(cfg.root), "exists": False})
        else:
            out.print(
                f"{cfg.project}: nothing here yet: no project storage at {cfg.root} "
                "(run `driftline init` or `driftline ingest FILE` to start it)",
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(EXIT_OK)
    return open_project(config_path, creates=False)


def has_storage(cfg: DriftlineConfig) -> bool:
    """The project's state store exists (always assumed for a database server)."""
    state_db = sqlite_file(cfg.database_url)
    return state_db is None or state_db.exists()


def use_running_servers(cfg: DriftlineConfig, config_path: Path) -> DriftlineConfig:
    """While `driftline up` runs, send flow runs to its Prefect server and MLflow writes to its
    tracking server (the config is reloaded so the override is validated the same way)."""
    import os

    from driftline import servers

    urls = servers.active(cfg)
    if urls is None:
        return cfg
    os.environ["PREFECT_API_URL"] = urls.prefect_api
    os.environ[TRACKING_URI_ENV] = urls.mlflow
    os.environ.update(servers.client_env(cfg, urls))
    return load_config(config_path)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str, allow_nan=False) + "\n")


DEBUG_ENV = "DRIFTLINE_DEBUG"


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show library logs and full tracebacks (else one line per error).")
    ] = False,
) -> None:
    import os

    if debug:
        os.environ[DEBUG_ENV] = "1"


def debugging() -> bool:
    import os

    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def quiet_libraries() -> None:
    """Keep library chatter off the terminal: our own output is the interface. The flow runs keep
    their full logs (and tracebacks) in Prefect; `--debug` shows them here too."""
    import logging
    import os

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if not debugging():
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # MLflow resets its loggers on import
    for name in ("mlflow", "great_expectations", "evidently", "alembic", "httpx", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)


@config_app.command("show")
def config_show(config: ConfigOption = Path(CONFIG_FILE)) -> None:
    """Print the resolved config, defaults included (creates nothing)."""
    cfg = open_project(config, read_only=True)
    out.print(
        mask_credentials(
            f"# {config.resolve()}\n# storage root: {cfg.root}\n# tracking URI: {cfg.tracking_uri}"
        ),
        highlight=False,
        markup=False,
    )
    out.print(dump_config(cfg), highlight=False, markup=False)


@contract_app.command("init")
def contract_init(
    reference: Annotated[Path, typer.Option("--reference", "-r", help="Reference data (CSV/Parquet).")],
    config: ConfigOption = Path(CONFIG_FILE),
    force: Annotated[bool, typer.Option(help="Overwrite an existing suite.")] = False,
) -> None:
    """Bootstrap the data contract (a GE suite JSON) from reference data."""
    cfg = open_project(config)
    from driftline.bootstrap import init_contract

    try:
        made = init_contract(cfg, reference, force=force)
    except (ConfigError, ValueError) as e:
        raise fail(str(e), EXIT_USAGE) from None
    for note in made.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    out.print(
        f"wrote {made.expectations} expectations to [bold]{made.path}[/]; "
        "edit severities ('block'/'warn') by hand"
    )


@app.command()
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


@app.command()
def recover(
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
    retrain: Annotated[bool, typer.Option(help="Let the policy retrain after a batch.")] = True,
) -> None:
    """Finish the batches a crash or an error left unfinished (redone from their kept raw copy)."""
    cfg = open_project(config)
    quiet_libraries()
    from driftline.intake import worker_alive
    from driftline.state import StateStore

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
    from driftline import progress
    from driftline.batch_io import RawCopyError
    from flows.batch_cycle import batch_cycle

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
            from driftline.cli_render import render_batch

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


@app.command()
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
    from driftline.batch_io import BatchReadError
    from flows.labels import deliver_labels

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


@app.command()
def status(config: ConfigOption = Path(CONFIG_FILE), as_json: JsonOption = False) -> None:
    """Summarise batches, quarantine, champion and the latest drift (creates nothing)."""
    cfg = open_for_reading(config, as_json=as_json)
    quiet_libraries()
    from driftline.reporting import status_summary

    summary = status_summary(cfg)
    if as_json:
        print_json(summary)
        return
    from driftline.cli_render import render_status

    render_status(out, summary)


def main() -> None:
    """Console entry point."""
    from driftline.env import apply_process_env, exit_on_sigterm

    apply_process_env()
    exit_on_sigterm()
    from driftline import (  # noqa: F401 - register commands
        cli_alerts,
        cli_contract,
        cli_demo,
        cli_models,
        cli_replay,
        cli_review,
        cli_servers,
    )

    try:
        app()  # usage errors and exit codes are typer's (SystemExit); anything else lands below
    except Exception as e:  # routine errors get one line; --debug shows the trace
        if debugging():
            raise
        message = f"{type(e).__name__}: {e}".strip().splitlines()[0]
        err.print(
            f"[bold red]error:[/] {message} (run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,  # one line, whatever the width (a pipe or a log file gets 80 columns)
        )
        sys.exit(EXIT_ERROR)
