"""The effectiveness suite: real drifting streams replayed through `driftline replay` under every
policy and label lag, with default settings, plus a no-drift control and a label-shuffled
challenger. It prints a table, writes JSON and one plot per dataset, and checks the targets.

    .venv/bin/python benchmarks/effectiveness/run.py --out /tmp/effectiveness      # everything
    .venv/bin/python benchmarks/effectiveness/run.py --streams seattle_weather --lags 0

Each replay runs in a worker process (both cores) with its own Prefect home; a finished replay's
JSON is kept under OUT/jobs, so a re-run only does what is missing (``--fresh`` redoes all).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import active_children, get_context
from pathlib import Path
from typing import Any

from driftline.cli.replay import _fmt  # the replay table's number format

HERE = Path(__file__).resolve().parent
POLICIES = ("never", "always", "expanding", "driftline")
LAGS = (0, 2)
CONTROL = "no_drift_control"
MIN_POOL_ROWS = 800  # rows the label-shuffled check trains and judges on, at least


def _streams_module() -> Any:
    spec = importlib.util.spec_from_file_location("effectiveness_streams", HERE / "streams.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _control(stream: Any) -> Any:
    """The stream's rows shuffled in time (same batch sizes and times): nothing drifts."""
    import dataclasses

    def load() -> Any:
        frame = stream.load()
        times = frame[stream.time_column].sort_values(kind="stable").to_numpy()
        shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
        shuffled[stream.time_column] = times
        return shuffled

    return dataclasses.replace(
        stream, name=CONTROL, description=f"{stream.name}, shuffled in time", load=load
    )


def _job(
    stream_file: str, spec: dict[str, Any], policy: str, lag: int, folder: str, config: str | None
) -> dict[str, Any]:
    """One replay in this worker process (its own Prefect home, created once per worker)."""
    os.environ.setdefault("PREFECT_HOME", str(Path(folder).parent / f"prefect-{os.getpid()}"))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    from driftline.cli.common import quiet_libraries
    from driftline.core.env import apply_process_env, exit_on_sigterm

    apply_process_env()
    exit_on_sigterm()
    quiet_libraries()
    from flows.replay import replay

    started = time.perf_counter()
    summary = replay(
        path=stream_file,
        target=spec["target"],
        time_column=spec["time_column"],
        freq=spec["freq"],
        rows=spec["rows"],
        id_column=spec["id_column"],
        task=spec["task"],
        label_lag=lag,
        policy=policy,
        warmup=spec["warmup"],
        directory=folder,
        config_path=config,
    )
    keep = {k: v for k, v in summary.items() if k != "artifacts"}
    return {**keep, "wall_s": time.perf_counter() - started}


def shuffled_challenger(stream: Any, frame: Any) -> dict[str, Any]:
    """Train a champion on the warmup's real labels and a challenger on the same rows with the
    labels shuffled; the gate (default rules) judges both on the next rows. Must reject."""
    import numpy as np
    import pandas as pd

    from driftline.core.config import GateConfig
    from driftline.services.replay import split_batches
    from driftline.services.retrain_steps import gate_rules
    from models.gate import evaluate_gate
    from models.metrics import baseline_predictions
    from models.spec import index_like_columns, infer_features, primary_metric
    from models.train import fit_model, predict

    batches = split_batches(frame, time_column=stream.time_column, freq=stream.freq, rows=stream.rows)
    # The warmup and the next batches, reaching further on small batches: enough rows to judge.
    taken = stream.warmup + 2
    while taken < len(batches) and sum(len(b.frame) for b in batches[:taken]) < MIN_POOL_ROWS:
        taken += 1
    pool = pd.concat([b.frame for b in batches[:taken]], ignore_index=True)
    pool = pool[pool[stream.target].notna()].reset_index(drop=True)
    held = max(200, len(pool) // 4)
    train, holdout = pool.iloc[:-held], pool.iloc[-held:]
    exclude = [stream.target, stream.id_column, stream.time_column]
    spec = infer_features(
        train.drop(columns=list(index_like_columns(train, exclude=exclude))),
        target=stream.target,
        id_column=stream.id_column,
        time_column=stream.time_column,
    )
    shuffled = train.assign(
        **{stream.target: np.random.default_rng(0).permutation(train[stream.target].to_numpy())}
    )
    fit = {"target": stream.target, "spec": spec, "task": stream.task}
    champion, challenger = fit_model(train, **fit), fit_model(shuffled, **fit)
    rules = gate_rules(GateConfig(), metric=primary_metric(stream.task))
    baseline = baseline_predictions(
        train[stream.target].to_numpy(),
        len(holdout),
        task=stream.task,
        classes=champion.classes or None,
        positive_label=champion.positive_label,
    )
    out = {}
    for case, against in (("vs_champion", predict(champion, holdout)), ("no_champion", None)):
        decision = evaluate_gate(
            y_true=holdout[stream.target].to_numpy(),
            challenger=predict(challenger, holdout),
            champion=against,
            baseline=baseline,
            rules=rules,
            task=stream.task,
            positive_label=champion.positive_label,
        )
        out[case] = {"promoted": decision.promote, "summary": decision.summary()}
    return out


def _ok(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def targets(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets for one stream and lag (`rows`: policy → summary)."""
    d, never = rows["driftline"], rows["never"]
    hib = d["higher_is_better"]
    best = [rows[p]["mean_score"] for p in ("always", "expanding") if _ok(rows[p]["mean_score"])]
    ref = (max(best) if hib else min(best)) if best else None
    score = d["mean_score"]
    ratio = (score / ref if hib else ref / score) if _ok(score) and ref is not None else None
    base = never["mean_score"]
    beats_never = _ok(score) and (not _ok(base) or (score >= base if hib else score <= base))
    replayed = max(d["replayed"], 1)
    always_retrains = max(rows["always"]["retrains"], 1)
    return {
        "quarantined_total": sum(r["quarantined"] for r in rows.values()),
        "scored_share": d["scored"] / replayed,
        "ratio_to_best_retrain_all": ratio,
        "at_least_never": bool(beats_never),
        "retrain_share_of_always": d["retrains"] / always_retrains,
        "met": {
            "no_quarantine": all(r["quarantined"] == 0 for r in rows.values()),
            "scored_98": d["scored"] / replayed >= 0.98,
            "mean_99": ratio is not None and ratio >= 0.99,
            "not_below_never": bool(beats_never),
            "retrains_50": d["retrains"] <= 0.5 * always_retrains,
        },
    }


def markdown(report: dict[str, Any]) -> str:
    """The suite's table: one row per stream, lag and policy, then the targets per stream."""
    lines = [
        "| stream | lag | policy | metric | mean | quarantined | scored | retrains | promotions | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, by_lag in report["streams"].items():
        for lag, rows in by_lag["lags"].items():
            for policy in POLICIES:
                r = rows.get(policy)
                if r is None:
                    continue
                lines.append(
                    f"| {name} | {lag} | {policy} | {r['metric']} | {_fmt(r['mean_score'])} | "
                    f"{r['quarantined']}/{r['batches']} | {r['scored']}/{r['replayed']} | {r['retrains']} | "
                    f"{r['promotions']} | {r['wall_s']:.0f} |"
                )
    lines += [
        "",
        "| stream | lag | driftline ÷ best of always/expanding | ≥ never | retrains ÷ always | scored "
        "| targets missed |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, by_lag in report["streams"].items():
        for lag, t in by_lag.get("targets", {}).items():
            missed = [k for k, ok in t["met"].items() if not ok]
            lines.append(
                f"| {name} | {lag} | {_fmt(t['ratio_to_best_retrain_all'])} | {t['at_least_never']} | "
                f"{t['retrain_share_of_always']:.2f} | {t['scored_share']:.0%} | "
                f"{', '.join(missed) or 'none'} |"
            )
    shuffled = report.get("shuffled_challenger", {})
    if shuffled:
        lines += [
            "",
            "| stream | label-shuffled challenger vs champion | vs trivial baseline only |",
            "|---|---|---|",
        ]
        for name, cases in shuffled.items():
            lines.append(
                f"| {name} | {'PROMOTED' if cases['vs_champion']['promoted'] else 'rejected'} | "
                f"{'PROMOTED' if cases['no_champion']['promoted'] else 'rejected'} |"
            )
    return "\n".join(lines)


def plot(name: str, by_lag: dict[str, Any], path: Path) -> None:
    """Realized metric per batch, one line per policy, one panel per label lag."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lags = list(by_lag["lags"])
    fig, axes = plt.subplots(1, len(lags), figsize=(6 * len(lags), 3.6), squeeze=False, sharey=True)
    for ax, lag in zip(axes[0], lags, strict=True):
        for policy, r in by_lag["lags"][lag].items():
            points = [(b["batch"], b["metric"]) for b in r["per_batch"] if b["phase"] == "replay"]
            xs = [p[0] for p in points]
            ys = [p[1] if p[1] is not None else float("nan") for p in points]
            ax.plot(xs, ys, marker=".", label=f"{policy} ({_fmt(r['mean_score'])})")
        any_row = next(iter(by_lag["lags"][lag].values()))
        ax.set_title(f"{name} · label lag {lag}")
        ax.set_xlabel("batch")
        ax.set_ylabel(any_row["metric"])
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("effectiveness-out"), help="Output folder.")
    parser.add_argument("--streams", nargs="*", help="Stream names (default: all, plus the control).")
    parser.add_argument("--policies", nargs="*", default=list(POLICIES))
    parser.add_argument("--lags", nargs="*", type=int, default=list(LAGS))
    parser.add_argument("--control-of", default="seattle_weather", help="Stream shuffled for the control.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="Redo replays whose JSON exists.")
    parser.add_argument(
        "--config", type=Path, help="A driftline.yaml whose settings every replay uses (e.g. gate options)."
    )
    args = parser.parse_args(argv)
    from driftline.core.env import exit_on_sigterm

    exit_on_sigterm()
    module = _streams_module()
    streams = {s.name: s for s in module.STREAMS}
    if args.control_of in streams:
        streams[CONTROL] = _control(streams[args.control_of])
    chosen = args.streams or list(streams)
    unknown = [n for n in chosen if n not in streams]
    if unknown:
        parser.error(f"unknown stream(s) {unknown}; known: {', '.join(streams)}")
    out = args.out.resolve()
    (out / "jobs").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)

    report: dict[str, Any] = {"machine": _machine(), "streams": {}, "shuffled_challenger": {}}
    jobs = []
    for name in chosen:
        stream = streams[name]
        frame = stream.load()
        path = out / "data" / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        spec = {
            k: getattr(stream, k)
            for k in ("target", "time_column", "freq", "rows", "id_column", "task", "warmup")
        }
        report["streams"][name] = {"description": stream.description, "rows": len(frame), "lags": {}}
        if name != CONTROL:
            saved = out / "jobs" / f"{name}-shuffled.json"
            if saved.is_file() and not args.fresh:
                checked = json.loads(saved.read_text())
            else:
                checked = shuffled_challenger(stream, frame)
                saved.write_text(json.dumps(checked, default=str))
            report["shuffled_challenger"][name] = checked
            print(f"{name}: label-shuffled challenger {checked}", flush=True)
        for lag in args.lags if name != CONTROL else [0]:
            for policy in args.policies if name != CONTROL else ["driftline"]:
                jobs.append((name, lag, policy, str(path), spec))

    results: dict[tuple[str, int, str], dict[str, Any]] = {}
    todo = []
    for name, lag, policy, path, spec in jobs:
        saved = out / "jobs" / f"{name}-lag{lag}-{policy}.json"
        if saved.is_file() and not args.fresh:
            results[(name, lag, policy)] = json.loads(saved.read_text())
        else:
            todo.append((name, lag, policy, path, spec))
    print(f"{len(jobs)} replays, {len(todo)} to run on {args.workers} worker(s)", flush=True)
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
        futures = {}
        for name, lag, policy, path, spec in todo:
            folder = out / "runs" / f"{name}-lag{lag}-{policy}-{int(time.time() * 1000)}"
            config = str(args.config.resolve()) if args.config else None
            futures[pool.submit(_job, path, spec, policy, lag, str(folder), config)] = (name, lag, policy)
        try:
            for future in as_completed(futures):
                key = futures[future]
                try:
                    summary = future.result()
                except Exception as exc:  # a failed replay is a finding, reported, not a crash
                    print(f"FAILED {key}: {type(exc).__name__}: {exc}", flush=True)
                    continue
                (out / "jobs" / f"{key[0]}-lag{key[1]}-{key[2]}.json").write_text(
                    json.dumps(summary, default=str)
                )
                results[key] = summary
                print(
                    f"{key[0]} lag {key[1]} {key[2]}: mean {_fmt(summary['mean_score'])}, scored "
                    f"{summary['scored']}/{summary['replayed']}, retrains {summary['retrains']}, quarantined "
                    f"{summary['quarantined']}, {summary['wall_s']:.0f} s",
                    flush=True,
                )
        except BaseException:  # SIGTERM or ^C: stop the workers (each stops its Prefect server)
            for child in active_children():
                child.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    for (name, lag, policy), summary in sorted(results.items()):
        report["streams"][name]["lags"].setdefault(str(lag), {})[policy] = summary
    for name, entry in report["streams"].items():
        if name == CONTROL:
            d = entry["lags"].get("0", {}).get("driftline")
            if d:
                entry["control"] = {
                    "retrains": d["retrains"],
                    "replayed": d["replayed"],
                    "met": d["retrains"] <= max(1, d["replayed"] / 20),
                }
            continue
        entry["targets"] = {
            lag: targets(rows) for lag, rows in entry["lags"].items() if set(POLICIES) <= set(rows)
        }
        if entry["lags"]:
            plot(name, entry, out / f"{name}.png")
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    table = markdown(report)
    control = report["streams"].get(CONTROL, {}).get("control")
    if control:
        table += (
            f"\n\nNo-drift control ({args.control_of} shuffled in time): driftline retrained "
            f"{control['retrains']} time(s) in {control['replayed']} batches (target: at most one per 20)."
        )
    (out / "report.md").write_text(table + "\n")
    print(table)
    print(f"\nwrote {out / 'report.json'}, {out / 'report.md'} and one plot per stream")
    return 0


def _machine() -> dict[str, Any]:
    import platform

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    sys.exit(main())
