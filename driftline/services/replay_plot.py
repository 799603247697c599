"""Replay plots: the serving champion's realized metric per batch, with retrain and promotion marks,
and their record in the project's MLflow (a run named `replay`).

matplotlib with the Agg backend (no display needed); imported only when a plot is drawn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.core.names import Tag

if TYPE_CHECKING:
    from driftline.services.workspace import Workspace

COLORS = {"driftline": "tab:blue", "never": "tab:gray", "always": "tab:orange"}


def _figure() -> tuple[Any, Any]:
    # Deferred: matplotlib loads only when a replay plot is drawn.
    import matplotlib

    matplotlib.use("Agg")
    # Deferred: matplotlib loads only when a replay plot is drawn.
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(10, 4.5), dpi=110)


def _save(fig: Any, ax: Any, path: Path) -> None:
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def _close(fig: Any) -> None:
    # Deferred: matplotlib loads only when a replay plot is drawn.
    import matplotlib.pyplot as plt

    plt.close(fig)


def _series(per_batch: Sequence[Mapping[str, Any]]) -> tuple[list[int], list[float]]:
    xs = [r["batch"] for r in per_batch if r["metric"] is not None]
    ys = [float(r["metric"]) for r in per_batch if r["metric"] is not None]
    return xs, ys


def _shade_warmup(ax: Any, per_batch: Sequence[Mapping[str, Any]]) -> None:
    warm = [r["batch"] for r in per_batch if r["phase"] == "warmup"]
    if warm:
        ax.axvspan(min(warm) - 0.5, max(warm) + 0.5, color="0.92", zorder=0, label="warmup")


def _ticks(ax: Any, per_batch: Sequence[Mapping[str, Any]]) -> None:
    step = max(1, len(per_batch) // 12)
    shown = per_batch[::step]
    ax.set_xticks([r["batch"] for r in shown])
    ax.set_xticklabels(
        [str(r["label"])[:10] for r in shown], rotation=30, ha="right", rotation_mode="anchor", fontsize=8
    )


def plot_replay(summary: Mapping[str, Any], path: Path) -> Path:
    """Draw one replay (see module docstring) and save it as PNG at `path`.

    Retrains are dotted lines and promotions solid lines between the batch that triggered them
    and the next one (the first batch the new champion serves); quarantined batches are red x.
    """
    per_batch = summary["per_batch"]
    fig, ax = _figure()
    try:
        _shade_warmup(ax, per_batch)
        xs, ys = _series(per_batch)
        color = COLORS.get(summary["policy"], "tab:blue")
        ax.plot(xs, ys, marker="o", color=color, label=f"serving champion {summary['metric']}")
        labeled = {"retrain": False, "promotion": False}
        for r in per_batch:
            x = r["batch"] + 0.5
            if r["retrain"] is not None and not r["promoted"]:
                ax.axvline(
                    x, color="0.5", linestyle=":", label="retrain (rejected)" * (not labeled["retrain"])
                )
                labeled["retrain"] = True
            if r["promoted"]:
                style = "--" if r["forced"] else "-"
                ax.axvline(
                    x,
                    color="tab:green",
                    linestyle=style,
                    alpha=0.7,
                    label="promotion" * (not labeled["promotion"]),
                )
                ax.annotate(
                    f"v{r['promoted']}",
                    (x, 1.0),
                    xycoords=("data", "axes fraction"),
                    fontsize=8,
                    ha="center",
                    va="bottom",
                    color="tab:green",
                )
                labeled["promotion"] = True
        bad = [r["batch"] for r in per_batch if r["status"] == "quarantined"]
        if bad:
            ax.scatter(
                bad,
                [0.02] * len(bad),
                marker="x",
                color="tab:red",
                s=60,
                label="quarantined",
                transform=ax.get_xaxis_transform(),
            )
        mean = summary.get("mean_score")
        if mean is not None:
            ax.axhline(mean, color=color, alpha=0.3, linestyle="-.", label=f"mean {mean:.3f}")
        _ticks(ax, per_batch)
        ax.set_ylabel(summary["metric"])
        ax.set_title(
            f"replay, policy {summary['policy']}: {summary['retrains']} retrain(s), "
            f"{summary['promotions']} promotion(s), {summary['quarantined']} quarantined",
            pad=16,
        )
        _save(fig, ax, path)
    finally:
        _close(fig)
    return path


def plot_compare(summaries: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """The three policies' metric curves on one axis, promotions as triangles; saved as PNG."""
    fig, ax = _figure()
    try:
        first = next(iter(summaries.values()))
        _shade_warmup(ax, first["per_batch"])
        for policy, summary in summaries.items():
            per_batch = summary["per_batch"]
            xs, ys = _series(per_batch)
            mean = summary.get("mean_score")
            tail = f" (mean {mean:.3f})" if mean is not None else ""
            color = COLORS.get(policy)
            ax.plot(xs, ys, marker="o", markersize=3, color=color, label=f"{policy}{tail}")
            ups = [r["batch"] + 0.5 for r in per_batch if r["promoted"] and r["phase"] == "replay"]
            ax.scatter(ups, [0.04] * len(ups), marker="^", color=color, transform=ax.get_xaxis_transform())
        _ticks(ax, first["per_batch"])
        ax.set_ylabel(first["metric"])
        ax.set_title("replay: serving champion per batch by policy (▲ promotion)")
        _save(fig, ax, path)
    finally:
        _close(fig)
    return path


def publish(ws: Workspace, summary: dict[str, Any]) -> dict[str, str]:
    """Save the plot and the summary JSON in the project and log both to a `replay` MLflow run.

    Returns:
        Paths of the PNG and the JSON, and the MLflow run id.
    """
    folder = ws.root / "replay"
    png = plot_replay(summary, folder / "replay.png")
    path = folder / "replay.json"
    path.write_text(json.dumps(summary, indent=2, allow_nan=False, default=str))
    registry = ws.registry
    run_id = registry.start_run(name="replay", tags={Tag.KIND: "replay", Tag.POLICY: summary["policy"]})
    try:
        params = ("policy", "label_lag", "warmup", "file", "freq", "rows_per_batch")
        registry.log_params(run_id, {k: summary[k] for k in params})
        for rec in summary["per_batch"]:
            registry.log_metrics(run_id, {f"replay.{summary['metric']}": rec["metric"]}, step=rec["batch"])
        totals = ("mean_score", "scored", "retrains", "promotions", "quarantined")
        registry.log_metrics(run_id, {k: summary[k] for k in totals})
        registry.log_artifact(run_id, png, folder="replay")
        registry.log_artifact(run_id, path, folder="replay")
    except Exception:
        registry.end_run(run_id, failed=True)
        raise
    registry.end_run(run_id)
    return {"png": str(png), "json": str(path), "mlflow_run_id": run_id}
