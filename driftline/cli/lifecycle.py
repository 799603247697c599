"""Model-side commands: init, retrain, promote, rollback, models (and `--compare`), explain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from driftline.cli.common import (
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    err,
    fail,
    open_for_reading,
    open_project,
    out,
    print_json,
    quiet_libraries,
)
from driftline.cli.render import render_models, render_retrain
from driftline.core import progress
from driftline.core.batch_io import BatchReadError
from driftline.core.config import CONFIG_FILE, ConfigError, DriftlineConfig
from driftline.jobs.project_init import init_project
from driftline.services import promotion
from driftline.services.explaining import explain_file
from driftline.services.reporting import models_summary
from driftline.services.workspace import Workspace
from flows.retrain import retrain as retrain_flow
from mlflow_server.registry import RegistryError
from monitoring.attribution import compare_importance


def init(
    data: Annotated[Path, typer.Option("--data", help="Historical data with labels (CSV/Parquet).")],
    target: Annotated[str, typer.Option("--target", help="Target column.")],
    time_column: Annotated[str | None, typer.Option(help="Event time column.")] = None,
    id_column: Annotated[str | None, typer.Option(help="Row id column (needed for late labels).")] = None,
    task: Annotated[str, typer.Option(help="auto, binary, multiclass or regression.")] = "auto",
    name: Annotated[str | None, typer.Option(help="Project name (default: the folder's name).")] = None,
    directory: Annotated[Path, typer.Option("--dir", help="Project folder.")] = Path("."),
    parts: Annotated[int, typer.Option(help="Time-ordered batches DATA is split into.", min=2)] = 4,
) -> None:
    """Write driftline.yaml, bootstrap the contract from DATA and train the first champion."""

    quiet_libraries()

    try:
        with progress.shown(err, title="init", enabled=True):
            result = init_project(
                data=data,
                target=target,
                time_column=time_column,
                id_column=id_column,
                task=task,
                name=name,
                directory=directory,
                parts=parts,
            )
    except (ConfigError, ValueError) as e:
        raise fail(str(e), EXIT_USAGE) from None
    for note in result["notes"]:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    out.print(f"wrote {result['config']} and contract {result['suite']}")

    render_retrain(out, result["retrain"])


def retrain(
    reason: Annotated[str, typer.Option(help="Why (recorded in the registry and ledger).")] = "manual",
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
) -> None:
    """Train a candidate on the recent window; the gate decides whether it becomes champion."""
    open_project(config)
    quiet_libraries()

    with progress.shown(err, title="retrain", enabled=not as_json):
        result = retrain_flow(reason=reason, config_path=str(config.resolve()))
    if as_json:
        print_json(result)
        return

    render_retrain(out, result)


def promote(
    version: Annotated[str, typer.Argument(help="Registered model version.")],
    reason: Annotated[str, typer.Option(help="Why you override the gate (recorded).")],
    config: ConfigOption = Path(CONFIG_FILE),
) -> None:
    """Manually make VERSION the champion (recorded in the ledger as a manual override)."""
    import getpass

    cfg = open_project(config, connect_api=False)  # runs no flow
    quiet_libraries()
    try:
        entry = promotion.promote(
            Workspace(cfg),
            version,
            decision={"manual": True, "reasons": [reason]},
            trigger=f"manual: {reason}",
            actor=getpass.getuser(),
            action="manual",
        )
    except Exception as e:  # registry and promotion errors become one line
        raise fail(str(e)) from None
    out.print(f"champion: v{entry['from_version']} → v{entry['to_version']} (manual)")


def rollback(
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "manual rollback",
    config: ConfigOption = Path(CONFIG_FILE),
) -> None:
    """Move the champion back to the version it replaced (from the promotion ledger)."""
    import getpass

    cfg = open_project(config, connect_api=False)  # runs no flow
    quiet_libraries()
    try:
        entry = promotion.rollback(Workspace(cfg), actor=getpass.getuser(), reason=reason)
    except promotion.PromotionError as e:
        raise fail(str(e)) from None
    out.print(f"champion: v{entry['from_version']} → v{entry['to_version']} (rollback)")


def models(
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare",
            metavar="A B",
            help="Compare the SHAP importance of versions A and B (rank correlation, top-k overlap).",
        ),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(help="With --compare: top features compared (default: attribution.top_k).", min=1),
    ] = None,
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
) -> None:
    """List versions, aliases, holdout metrics, gate decisions and the promotion ledger; with
    `--compare A B`, how differently two versions attribute (SHAP importance per feature)."""
    cfg = open_for_reading(config, as_json=as_json)
    quiet_libraries()
    if compare is not None:
        _compare(cfg, compare, top=top, as_json=as_json)
        return

    summary = models_summary(cfg)
    if as_json:
        print_json(summary)
        return

    render_models(out, summary)


SHAP_TABLE = "shap/importance.csv"  # what the retrain flow's explain task logs per version


def _compare(cfg: DriftlineConfig, versions: tuple[str, str], *, top: int | None, as_json: bool) -> None:
    """`models --compare A B`: A's importance is the reference, B's the current side."""

    registry = Workspace(cfg).registry
    tables = []
    for version in versions:
        try:
            info = registry.get_version(version)
        except RegistryError as e:
            raise fail(str(e), EXIT_USAGE) from None
        table = registry.read_csv_artifact(info.run_id, SHAP_TABLE)
        if table is None:
            raise fail(
                f"v{version} has no SHAP table ({SHAP_TABLE}): SHAP failed or was skipped when it was trained"
            )
        tables.append(table)
    a = cfg.attribution
    try:
        result = compare_importance(
            tables[0],
            tables[1],
            top_k=top or a.top_k,
            min_rank_correlation=a.min_rank_correlation,
            min_top_k_overlap=a.min_top_k_overlap,
            min_features=a.min_features,
        )
    except ValueError as e:  # a stored table that is not an importance table
        raise fail(f"cannot compare v{versions[0]} and v{versions[1]}: {e}") from None
    if as_json:
        print_json({"a": versions[0], "b": versions[1], **result.to_dict(all_features=True)})
        return

    va, vb = (f"v{v}" for v in versions)
    table = Table("feature")
    for heading in (f"importance {va}", f"importance {vb}", f"rank {va}", f"rank {vb}"):
        table.add_column(heading, justify="right")
    for f in result.features:
        table.add_row(
            f.feature,
            f"{f.reference:.4g}",
            f"{f.current:.4g}",
            str(f.reference_rank or "—"),
            str(f.current_rank or "—"),
        )
    out.print(table)
    corr = "n/a" if result.rank_correlation is None else f"{result.rank_correlation:.3f}"
    overlap = "n/a" if result.top_k_overlap is None else f"{result.top_k_overlap:.2f}"
    out.print(f"rank correlation {corr}, top-{result.top_k} overlap {overlap}", highlight=False)
    out.print(f"{va} → {vb}: {result.summary()}", highlight=False)


def explain(
    rows: Annotated[Path, typer.Option("--rows", help="Rows to explain (CSV/Parquet).")],
    version: Annotated[str | None, typer.Option(help="Model version (default: champion).")] = None,
    top: Annotated[int, typer.Option(help="Features shown per row.", min=1)] = 5,
    config: ConfigOption = Path(CONFIG_FILE),
    as_json: JsonOption = False,
) -> None:
    """Per-row SHAP contributions: why did the model predict what it predicted?"""
    cfg = open_for_reading(config, as_json=as_json)
    quiet_libraries()

    try:
        result = explain_file(cfg, rows, version=version, top_k=top)
    except (BatchReadError, ValueError) as e:
        raise fail(str(e), EXIT_USAGE) from None
    if as_json:
        print_json(result)
        return
    out.print(f"model v{result['version']}")
    for row in result["rows"]:
        parts = ", ".join(f"{c['feature']}={c['value']} ({c['contribution']:+.3f})" for c in row["top"])
        out.print(f"row {row['row_key']}: prediction {row['prediction']} ← {parts}", highlight=False)
