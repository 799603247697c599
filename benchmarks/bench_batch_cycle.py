"""Benchmark of the batch cycle: seconds per stage, rows/s, peak RSS, overhead over bare library calls.

Usage (from the repository root; results and method in docs/benchmarks.md):

    uv run --frozen python benchmarks/bench_batch_cycle.py --sizes 10000 100000 1000000 \
        --repeats 5 --repeats-large 3 --json benchmarks/results.json

Each size runs in its own fresh worker subprocess (so memory of one size does not leak into the
next). A worker:

1. generates a synthetic 20k-row history (15 numeric + 4 categorical features, an integer id and a
   binary target: 21 columns) and creates a project from it with ``driftline.jobs.project_init.init_project``
   (the real flows: contract bootstrap, 4 init batches through the batch cycle, first retrain →
   champion);
2. runs one untimed warm-up batch (10k rows) through ``flows.batch_cycle.batch_cycle`` so imports,
   the ephemeral Prefect API, the GE context, the cached champion and reference are warm;
3. for each repeat, writes a fresh batch file (new seed → new content hash, never a duplicate) and
   runs, in alternating order (so a busy phase of a shared machine hits both sides alike):
   * the real flow ``batch_cycle(path, config_path, allow_retrain=False)``, recording wall and CPU
     time of the whole call, per-stage wall/CPU seconds (timing wrappers put, in this process only,
     around each task's ``task.fn`` and the un-tasked steps of ``run_batch``; project code is not
     modified), seconds spent in Python's cyclic GC (``gc.callbacks``), CPU used by the ephemeral
     Prefect API server (a child process), peak RSS per stage and for the whole cycle (``VmHWM``,
     reset through ``/proc/self/clear_refs`` when a stage starts), and the machine's CPU stall share
     (``/proc/pressure/cpu``) to spot runs disturbed by other processes;
   * the *bare library calls* doing the same work on the same file, in the same warm process:
     hashlib + shutil copy, ``pd.read_parquet``, GE ``batch.validate(suite)`` with the same
     expectations, the champion's ``predict_proba``, ``DataFrame.to_sql`` of the prediction rows and
     of the label rows (same schema, separate SQLite file), sklearn metrics, Evidently on the current
     frame sampled the same way (report + HTML + JSON), MLflow ``log_batch`` of as many metrics +
     ``log_artifact`` of the HTML.

Ratio = whole flow call / sum of the bare calls. The parent prints a table of medians and can write
every record and the medians as JSON (``--json OUT``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INIT_ROWS = 20_000
WARMUP_ROWS = 10_000
N_NUMERIC = 15
N_CATEGORICAL = 4
TARGET = "target"
ID = "id"

# Stages of the cycle in flow order: (label, what it covers).
STAGES: list[tuple[str, str]] = [
    ("receive", "receive-batch task: sha256 + copy into the batch store + duplicate look-up"),
    ("read", "read-batch task: read_table (pd.read_parquet + checks)"),
    ("contract", "load_suite + validate-contract task (GE)"),
    ("score", "score-batch task: predict + prediction-log rows + to_sql"),
    ("drift", "detect-drift task: sampling, prepare, Evidently report + HTML"),
    ("labels", "record-labels task: label rows + delete/insert"),
    ("performance", "realized-performance task: in-memory label join + sklearn metrics"),
    ("monitoring", "log-monitoring task: monitoring-run search, log_batch, log_artifact"),
    ("state", "state store: add_batch + update_batch (x2)"),
    ("registry", "registry look-ups (aliases x2, load_reference) + load_facts"),
    ("policy", "retrain policy (_decide: state reads + decide_retrain)"),
]
SUBSTAGES: list[tuple[str, str]] = [
    ("score.load_model", "Registry.load_model (lru-cached)"),
    ("score.score_batch", "score_batch: prepare_features + predict_proba + log rows"),
    ("score.log_predictions", "StateStore.log_predictions (to_sql)"),
    ("drift.evidently", "monitoring.drift._run_evidently (Evidently + HTML + JSON)"),
    ("labels.labels_of", "datasets.labels_of (row keys + label text)"),
    ("labels.record_labels", "StateStore.record_labels (delete + to_sql)"),
    ("performance.read_join", "driftline.services.datasets.labeled_predictions (in memory)"),
    ("performance.metrics", "monitoring.performance.realized_metrics"),
]
BARE: list[str] = [
    "receive",
    "read",
    "contract",
    "score",
    "log_predictions",
    "labels",
    "metrics",
    "drift",
    "mlflow",
]


# ---------------------------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------------------------
def make_frame(rows: int, seed: int) -> Any:
    """15 numeric + 4 categorical features, an int id and a binary target (21 columns)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {ID: np.arange(rows, dtype=np.int64) + seed * 10_000_000}
    numeric = rng.standard_normal((rows, N_NUMERIC))
    scales = np.linspace(1.0, 50.0, N_NUMERIC)
    offsets = np.linspace(-10.0, 100.0, N_NUMERIC)
    for j in range(N_NUMERIC):
        data[f"num_{j:02d}"] = numeric[:, j] * scales[j] + offsets[j]
    levels = [np.array([f"c{j}_{k}" for k in range(n)], dtype=object) for j, n in enumerate((3, 5, 8, 12))]
    codes = [rng.integers(0, len(lv), rows) for lv in levels]
    for j, (lv, code) in enumerate(zip(levels, codes, strict=True)):
        data[f"cat_{j}"] = lv[code]
    logit = 0.8 * numeric[:, 0] - 0.6 * numeric[:, 1] + 0.4 * numeric[:, 2] + 0.3 * (codes[0] - 1)
    data[TARGET] = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame(data)


# ---------------------------------------------------------------------------------------------
# Measurement helpers
# ---------------------------------------------------------------------------------------------
def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_stall_us() -> int | None:
    """Total µs some runnable task waited for a CPU (PSI, /proc/pressure/cpu), machine-wide."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return None
    return int(first.rsplit("total=", 1)[1])


def children_cpu_s() -> float:
    """CPU seconds (user + system) used so far by the live descendants of this process
    (the ephemeral Prefect API server the flow talks to)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    mine, frontier = set(), [os.getpid()]
    while frontier:
        pid = frontier.pop()
        kids = [c for c, p in parents.items() if p == pid and c not in mine]
        mine.update(kids)
        frontier.extend(kids)
    return sum(ticks[p] for p in mine) / os.sysconf("SC_CLK_TCK")


def release_memory() -> tuple[float, float]:
    """gc + glibc malloc_trim: RSS MiB before and after (tells retained heap from live objects)."""
    import ctypes

    gc.collect()
    before = _status_kib("VmRSS") / 1024
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return before, _status_kib("VmRSS") / 1024


class GcClock:
    """Seconds spent in Python's cyclic garbage collector (gc.callbacks), cumulative."""

    total = 0.0
    _started = 0.0

    @classmethod
    def install(cls) -> None:
        def callback(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                cls._started = time.perf_counter()
            else:
                cls.total += time.perf_counter() - cls._started

        gc.callbacks.append(callback)


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Timings:
    """Seconds and peak RSS per label for the current record (wrappers add to it).

    Peak RSS per label: VmHWM is reset when a label starts and read when it ends. Nested labels
    would lose the enclosing label's earlier peak, so the peak seen so far is carried up a stack.
    """

    def __init__(self, track_peaks: bool = True) -> None:
        self.current: dict[str, float] = {}
        self.cpu: dict[str, float] = {}  # process CPU seconds (all threads of this process)
        self.peaks: dict[str, float] = {}  # MiB
        self.entry: dict[str, float] = {}  # RSS MiB when the label (first) started
        self.gc: dict[str, float] = {}  # seconds in the cyclic GC
        self.track_peaks = track_peaks
        self._stack: list[list[Any]] = []  # [label, highest VmHWM seen so far in KiB]

    def reset(self) -> None:
        self.current, self.cpu, self.peaks, self.entry, self.gc = {}, {}, {}, {}, {}

    def add(self, label: str, seconds: float) -> None:
        self.current[label] = self.current.get(label, 0.0) + seconds

    def _enter(self, label: str) -> None:
        if not self.track_peaks:
            return
        hwm = _status_kib("VmHWM")
        for frame in self._stack:
            frame[1] = max(frame[1], hwm)
        reset_peak_rss()
        rss = _status_kib("VmHWM")
        self.entry.setdefault(label, rss / 1024)
        self._stack.append([label, rss])

    def _exit(self) -> None:
        if not self.track_peaks:
            return
        label, seen = self._stack.pop()
        peak = max(seen, _status_kib("VmHWM"))
        for frame in self._stack:
            frame[1] = max(frame[1], peak)
        self.peaks[label] = max(self.peaks.get(label, 0.0), peak / 1024)

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.time(label):
                return original(*args, **kwargs)

        setattr(owner, attr, timed)

    @contextlib.contextmanager
    def time(self, label: str) -> Iterator[None]:
        self._enter(label)
        started, cpu, in_gc = time.perf_counter(), time.process_time(), GcClock.total
        try:
            yield
        finally:
            self.add(label, time.perf_counter() - started)
            self.cpu[label] = self.cpu.get(label, 0.0) + time.process_time() - cpu
            self.gc[label] = self.gc.get(label, 0.0) + GcClock.total - in_gc
            self._exit()


def instrument(timings: Timings) -> None:
    """Timing wrappers around the task functions and the un-tasked steps of run_batch."""
    import driftline.services.batch_cycle as cycle
    import driftline.services.batch_steps as steps
    import flows.batch_cycle as flow
    import monitoring.drift
    import monitoring.performance
    import tasks.batch as tb
    from driftline.store.state import StateStore
    from mlflow_server.registry import Registry

    for task, label in (
        (tb.receive_task, "receive"),
        (tb.read_task, "read"),
        (tb.contract_task, "contract"),
        (tb.score_task, "score"),
        (tb.drift_task, "drift"),
        (tb.labels_task, "labels"),
        (tb.batch_performance_task, "performance"),
        (tb.monitoring_task, "monitoring"),
    ):
        timings.wrap(task, "fn", label)
    timings.wrap(cycle, "load_suite", "contract")
    timings.wrap(flow, "run_batch", "run_batch")
    timings.wrap(cycle, "load_facts", "registry")
    timings.wrap(cycle, "_decide", "policy")
    timings.wrap(StateStore, "add_batch", "state")
    timings.wrap(StateStore, "update_batch", "state")
    timings.wrap(Registry, "version_by_alias", "registry")
    timings.wrap(Registry, "load_reference", "registry")
    # Sub-stages (already counted inside their stage).
    timings.wrap(Registry, "load_model", "score.load_model")
    timings.wrap(steps, "score_batch", "score.score_batch")
    timings.wrap(StateStore, "log_predictions", "score.log_predictions")
    timings.wrap(monitoring.drift, "_run_evidently", "drift.evidently")
    timings.wrap(steps, "labels_of", "labels.labels_of")
    timings.wrap(StateStore, "record_labels", "labels.record_labels")
    timings.wrap(steps, "labeled_predictions", "performance.read_join")
    timings.wrap(monitoring.performance, "realized_metrics", "performance.metrics")


# ---------------------------------------------------------------------------------------------
# Bare library calls doing the same work
# ---------------------------------------------------------------------------------------------
class Bare:
    """The same work as the cycle, as direct library calls (set up once, untimed)."""

    def __init__(self, ws: Any, workdir: Path) -> None:
        import sqlalchemy as sa
        from mlflow import MlflowClient

        from data_contracts.suite_io import load_suite
        from driftline.services import promotion
        from driftline.services.project import load_facts
        from driftline.store import state as st

        self.ws = ws
        self.cfg = ws.config
        self.facts = load_facts(ws)
        self.workdir = workdir / "bare"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.suite = load_suite(self.cfg.suite_path)
        registry = ws.registry
        champion = registry.version_by_alias("champion")
        self.version = champion.version
        self.pipeline = promotion.load_model(ws, champion.version)
        self.reference = registry.load_reference(champion.version)
        # Same schema (tables + indexes) in a separate SQLite file.
        self.engine = sa.create_engine(f"sqlite:///{self.workdir / 'bare.db'}")
        st.metadata.create_all(self.engine)
        self.client = MlflowClient(tracking_uri=self.cfg.tracking_uri)
        self.run_id = self.client.create_run(registry.experiment_id, run_name="bench-bare").info.run_id
        self.step = 0

    def ge_suite(self, columns: set[Any]) -> Any:
        """The exact GE suite the adapter would build for a frame with these columns (untimed)."""
        from data_contracts import validate as v

        entries = v._entries(self.suite, "bench")
        run, _ = v._plan(entries, self.suite, columns)
        return v._build_suite(str(self.suite.get("name")), run, "bench")

    def run(self, path: Path, tag: str) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
        import hashlib

        import numpy as np
        import pandas as pd
        from evidently import DataDefinition, Dataset, Report
        from evidently.metrics import ValueDrift
        from evidently.presets import DataDriftPreset
        from mlflow.entities import Metric
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

        from data_contracts.validate import _batch_definition

        t = Timings()
        facts, cfg = self.facts, self.cfg
        features = list(facts.features)
        batch_id = f"bare-{tag}"

        with t.time("receive"):
            with path.open("rb") as handle:
                sha = hashlib.file_digest(handle, "sha256").hexdigest()
            target_dir = self.workdir / "batches" / batch_id
            target_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target_dir / "raw.parquet")

        with t.time("read"):
            frame = pd.read_parquet(path)

        suite = self.ge_suite(set(frame.columns))
        batch_def = _batch_definition()
        with t.time("contract"):
            outcome = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(
                suite, result_format="SUMMARY"
            )

        with t.time("score"):
            proba = self.pipeline.predict_proba(frame[features])
            score = proba[:, -1]

        with t.time("log_predictions"):
            rows = pd.DataFrame(
                {
                    "batch_id": batch_id,
                    "row_key": frame[ID].astype(str).to_numpy(),
                    "role": "champion",
                    "model_version": str(self.version),
                    "prediction": np.where(score >= 0.5, "1", "0"),
                    "score": score,
                    "latency_ms": 0.0,
                }
            )
            rows.to_sql("predictions", self.engine, if_exists="append", index=False, chunksize=50_000)

        with t.time("labels"):
            labels = pd.DataFrame(
                {
                    "batch_id": batch_id,
                    "row_key": rows["row_key"].to_numpy(),
                    "label": frame[TARGET].astype(str).to_numpy(),
                    "received_at": "2026-01-01T00:00:00+00:00",
                }
            )
            labels.to_sql("labels", self.engine, if_exists="append", index=False, chunksize=50_000)

        with t.time("metrics"):
            truth = frame[TARGET].to_numpy() == 1
            predicted = score >= 0.5
            values = {
                "auc": roc_auc_score(truth, score),
                "accuracy": accuracy_score(truth, predicted),
                "f1": f1_score(truth, predicted, zero_division=0),
            }

        report_path = self.workdir / "reports" / batch_id / "drift.html"
        report_path.parent.mkdir(parents=True, exist_ok=True)
        pred = "__prediction_score"
        with t.time("drift"):
            n = min(len(frame), cfg.drift.max_rows)
            picked = frame.sample(n=n, random_state=cfg.drift.seed).index if n < len(frame) else frame.index
            cur = frame.loc[picked, features].assign(**{pred: score[frame.index.get_indexer(picked)]})
            ref = self.reference
            if len(ref) > cfg.drift.max_rows:
                ref = ref.sample(n=cfg.drift.max_rows, random_state=cfg.drift.seed)
            definition = DataDefinition(
                numerical_columns=[*facts.numeric, pred], categorical_columns=list(facts.categorical)
            )
            preset = DataDriftPreset(columns=features, drift_share=cfg.drift.drift_share)
            snapshot = Report([preset, ValueDrift(column=pred)], include_tests=True).run(
                current_data=Dataset.from_pandas(cur, data_definition=definition),
                reference_data=Dataset.from_pandas(ref, data_definition=definition),
            )
            snapshot.save_html(str(report_path))
            payload = json.loads(snapshot.json())

        with t.time("mlflow"):
            self.step += 1
            now = int(time.time() * 1000)
            metric_values = {f"drift_score.{c}": 0.01 for c in features} | values | {"rows": len(frame)}
            metric_values |= {k: 1.0 for k in ("contract_success_pct", "quarantined", "labeled_rows")}
            metric_values |= {k: 1.0 for k in ("drift_share", "drifted_columns", "prediction_mean")}
            metric_values |= {"latency_ms": 1.0}
            items = [Metric(k, float(v), now, self.step) for k, v in metric_values.items()]
            self.client.log_batch(self.run_id, metrics=items)
            self.client.log_artifact(self.run_id, str(report_path), artifact_path=f"bare/{batch_id}")

        info = {
            "sha256": sha,
            "ge_results": len(outcome.results),
            "ge_success": bool(outcome.success),
            "drift_metrics": len(payload.get("metrics", [])),
            "mlflow_metrics": len(items),
            "auc": float(values["auc"]),
        }
        info["cpu_s"] = t.cpu
        info["gc_s"] = t.gc
        return t.current, t.peaks, info


# ---------------------------------------------------------------------------------------------
# Worker: one size, in a fresh process
# ---------------------------------------------------------------------------------------------
def worker(size: int, repeats: int, workdir: Path, result_path: Path, seed_base: int) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    project = workdir / "project"
    # Env first (telemetry off, OMP_NUM_THREADS=1) and PREFECT_HOME before prefect is imported.
    from driftline.core.env import apply_process_env

    apply_process_env({"PREFECT_HOME": str(project / ".driftline" / "prefect")})
    (project / ".driftline" / "prefect").mkdir(parents=True, exist_ok=True)

    import logging

    logging.getLogger("prefect").setLevel(logging.WARNING)

    started = time.perf_counter()
    data_dir = workdir / "data"
    data_dir.mkdir(exist_ok=True)
    init_file = data_dir / "init.parquet"
    make_frame(INIT_ROWS, seed=seed_base).to_parquet(init_file, index=False)

    from driftline.jobs.project_init import init_project

    init = init_project(
        data=init_file,
        target=TARGET,
        time_column=None,
        id_column=ID,
        task="binary",
        name="bench",
        directory=project,
        parts=4,
    )
    init_seconds = time.perf_counter() - started
    config_path = init["config"]

    from driftline.core.config import load_config
    from driftline.services.workspace import Workspace
    from flows.batch_cycle import batch_cycle

    ws = Workspace(load_config(Path(config_path)))
    if ws.registry.version_by_alias("champion") is None:
        raise SystemExit(f"init did not produce a champion: {init['retrain']}")

    def batch_file(rows: int, seed: int) -> Path:
        path = data_dir / f"batch-{rows}-{seed}.parquet"
        make_frame(rows, seed=seed).to_parquet(path, index=False)
        return path

    # Warm-up (untimed): imports, Prefect API, GE context, model/reference caches.
    warm = batch_file(WARMUP_ROWS, seed_base + 1)
    out = batch_cycle(path=str(warm), config_path=config_path, allow_retrain=False)
    if out.get("status") != "accepted":
        raise SystemExit(f"warm-up batch not accepted: {out.get('status')}: {out.get('contract')}")
    warm.unlink()

    GcClock.install()
    timings = Timings()
    instrument(timings)
    bare = Bare(ws, workdir)
    bare.run(batch_file(WARMUP_ROWS, seed_base + 2), "warm")  # warm the bare path too

    records = []
    for r in range(repeats):
        path = batch_file(size, seed_base + 10 + r)

        def run_cycle(path: Path = path) -> dict[str, Any]:
            rss_untrimmed, _ = release_memory()
            rss_before = _status_kib("VmRSS")
            timings.reset()
            child0 = children_cpu_s()
            stall0, cpu0, t0 = cpu_stall_us(), time.process_time(), time.perf_counter()
            with timings.time("cycle"):
                out = batch_cycle(path=str(path), config_path=config_path, allow_retrain=False)
            total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            stall1, child = cpu_stall_us(), children_cpu_s() - child0
            stall = (stall1 - stall0) / 1e6 / total if stall0 is not None and stall1 is not None else None
            if out.get("status") != "accepted":
                raise SystemExit(f"batch not accepted: {out.get('status')}: {out.get('contract')}")
            stages = {k: v for k, v in timings.current.items() if k != "cycle"}
            return {
                "out": out,
                "total": total,
                "cpu": cpu,
                "stages": stages,
                "peaks": dict(timings.peaks),
                "rss_before": rss_before,
                "stall": stall,
                "child_cpu": child,
                "cpu_stages": {k: v for k, v in timings.cpu.items() if k != "cycle"},
                "gc": dict(timings.gc),
                "entry": dict(timings.entry),
                "rss_untrimmed": rss_untrimmed,
            }

        def run_bare(path: Path = path, r: int = r) -> dict[str, Any]:
            release_memory()
            child0 = children_cpu_s()
            stall0, cpu0, t0 = cpu_stall_us(), time.process_time(), time.perf_counter()
            times, peaks, info = bare.run(path, f"{size}-{r}")
            cpu, wall, stall1 = time.process_time() - cpu0, time.perf_counter() - t0, cpu_stall_us()
            cpu += children_cpu_s() - child0  # the API server's idle work, for symmetry
            stall = (stall1 - stall0) / 1e6 / wall if stall0 is not None and stall1 is not None else None
            return {"times": times, "peaks": peaks, "info": info, "cpu": cpu, "stall": stall}

        # Alternate the order so slow phases of a shared machine hit both sides alike.
        if r % 2 == 0:
            c, b = run_cycle(), run_bare()
        else:
            b, c = run_bare(), run_cycle()
        stages, total = c["stages"], c["total"]
        bare_total = sum(b["times"].values())
        accounted = sum(stages.get(s, 0.0) for s, _ in STAGES)
        out = c["out"]
        records.append(
            {
                "repeat": r,
                "order": "cycle-first" if r % 2 == 0 else "bare-first",
                "total_s": total,
                "cpu_s": c["cpu"],
                "api_server_cpu_s": c["child_cpu"],
                "run_batch_s": stages.get("run_batch", 0.0),
                "flow_overhead_s": total - stages.get("run_batch", 0.0),
                "glue_and_task_engine_s": stages.get("run_batch", 0.0) - accounted,
                "stages_s": {k: v for k, v in stages.items() if k != "run_batch"},
                "stage_peak_rss_mib": c["peaks"],
                "stage_entry_rss_mib": c["entry"],
                "stages_cpu_s": c["cpu_stages"],
                "stages_gc_s": c["gc"],
                "rss_before_untrimmed_mib": c["rss_untrimmed"],
                "bare_s": b["times"],
                "bare_peak_rss_mib": b["peaks"],
                "bare_cpu_by_call_s": b["info"].pop("cpu_s"),
                "bare_gc_s": b["info"].pop("gc_s"),
                "bare_total_s": bare_total,
                "bare_cpu_s": b["cpu"],
                "ratio": total / bare_total,
                "cpu_ratio": (c["cpu"] + c["child_cpu"]) / b["cpu"],
                "cpu_stall_share_cycle": c["stall"],
                "cpu_stall_share_bare": b["stall"],
                "rows_per_s": size / total,
                "rss_before_mib": c["rss_before"] / 1024,
                "peak_rss_cycle_mib": c["peaks"].get("cycle"),
                "contract": {k: out["contract"].get(k) for k in ("success", "passed", "warning_count")},
                "drift_share": (out.get("drift") or {}).get("share"),
                "bare_info": b["info"],
            }
        )
        print(
            f"[{size}] repeat {r}: cycle {total:.2f}s (cpu {c['cpu']:.2f}), bare {bare_total:.2f}s "
            f"(cpu {b['cpu']:.2f}), ratio {total / bare_total:.2f}, "
            f"peak {c['peaks'].get('cycle', 0):.0f} MiB, cpu stall share {c['stall']} / {b['stall']}",
            file=sys.stderr,
            flush=True,
        )
        path.unlink()

    result = {
        "size": size,
        "columns": N_NUMERIC + N_CATEGORICAL + 2,
        "repeats": repeats,
        "init_seconds": init_seconds,
        # ru_maxrss follows VmHWM, which the stage peaks reset: the highest peak recorded instead.
        "peak_rss_process_mib": max(
            [
                v
                for rec in records
                for v in [*rec["stage_peak_rss_mib"].values(), *rec["bare_peak_rss_mib"].values()]
            ]
            + [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]
        ),
        "records": records,
    }
    result_path.write_text(json.dumps(result, indent=2))


# ---------------------------------------------------------------------------------------------
# Parent: one worker per size, table of medians
# ---------------------------------------------------------------------------------------------
def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    recs = result["records"]
    stage_names = [s for s, _ in STAGES] + [s for s, _ in SUBSTAGES]
    peaks = [r["peak_rss_cycle_mib"] for r in recs if r["peak_rss_cycle_mib"] is not None]
    return {
        "size": result["size"],
        "repeats": len(recs),
        "stages_s": {s: _median([r["stages_s"].get(s, 0.0) for r in recs]) for s in stage_names},
        "glue_and_task_engine_s": _median([r["glue_and_task_engine_s"] for r in recs]),
        "flow_overhead_s": _median([r["flow_overhead_s"] for r in recs]),
        "total_s": _median([r["total_s"] for r in recs]),
        "total_s_all": [round(r["total_s"], 3) for r in recs],
        "rows_per_s": _median([r["rows_per_s"] for r in recs]),
        "bare_s": {b: _median([r["bare_s"].get(b, 0.0) for r in recs]) for b in BARE},
        "bare_total_s": _median([r["bare_total_s"] for r in recs]),
        "ratio": _median([r["ratio"] for r in recs]),
        "ratio_all": [round(r["ratio"], 3) for r in recs],
        "cpu_s": _median([r["cpu_s"] for r in recs]),
        "api_server_cpu_s": _median([r["api_server_cpu_s"] for r in recs]),
        "bare_cpu_s": _median([r["bare_cpu_s"] for r in recs]),
        "cpu_ratio": _median([r["cpu_ratio"] for r in recs]),
        "cpu_ratio_all": [round(r["cpu_ratio"], 3) for r in recs],
        "cpu_stall_share_cycle_all": [r["cpu_stall_share_cycle"] for r in recs],
        "cpu_stall_share_bare_all": [r["cpu_stall_share_bare"] for r in recs],
        "rss_before_mib": _median([r["rss_before_mib"] for r in recs]),
        "stage_peak_rss_mib": {
            s: _median([r["stage_peak_rss_mib"].get(s, 0.0) for r in recs]) for s in stage_names
        },
        "bare_peak_rss_mib": {b: _median([r["bare_peak_rss_mib"].get(b, 0.0) for r in recs]) for b in BARE},
        "stages_cpu_s": {s: _median([r["stages_cpu_s"].get(s, 0.0) for r in recs]) for s in stage_names},
        "bare_cpu_by_call_s": {b: _median([r["bare_cpu_by_call_s"].get(b, 0.0) for r in recs]) for b in BARE},
        "stage_rss_growth_mib": {
            s: _median(
                [r["stage_peak_rss_mib"].get(s, 0.0) - r["stage_entry_rss_mib"].get(s, 0.0) for r in recs]
            )
            for s in [*stage_names, "run_batch", "cycle"]
        },
        "rss_before_untrimmed_mib": _median([r["rss_before_untrimmed_mib"] for r in recs]),
        "gc_cycle_s": _median([r["stages_gc_s"].get("cycle", 0.0) for r in recs]),
        "gc_bare_s": _median([sum(r["bare_gc_s"].values()) for r in recs]),
        "stages_gc_s": {s: _median([r["stages_gc_s"].get(s, 0.0) for r in recs]) for s in stage_names},
        "bare_gc_by_call_s": {b: _median([r["bare_gc_s"].get(b, 0.0) for r in recs]) for b in BARE},
        "ratio_without_gc": _median(
            [
                (r["total_s"] - r["stages_gc_s"].get("cycle", 0.0))
                / (r["bare_total_s"] - sum(r["bare_gc_s"].values()))
                for r in recs
            ]
        ),
        "peak_rss_cycle_first_repeat_mib": recs[0]["peak_rss_cycle_mib"] if recs else None,
        "peak_rss_cycle_mib": _median(peaks) if peaks else None,
        "peak_rss_cycle_max_mib": max(peaks) if peaks else None,
        "peak_rss_process_mib": result["peak_rss_process_mib"],
        "init_seconds": result["init_seconds"],
    }


def print_table(summaries: list[dict[str, Any]]) -> None:
    stage_names = [s for s, _ in STAGES]
    head = ["stage (median s)"] + [f"{s['size']:,}" for s in summaries]
    rows: list[list[str]] = []
    for name in stage_names:
        rows.append([name] + [f"{s['stages_s'][name]:.3f}" for s in summaries])
    rows.append(["task engine + glue"] + [f"{s['glue_and_task_engine_s']:.3f}" for s in summaries])
    rows.append(["flow run overhead"] + [f"{s['flow_overhead_s']:.3f}" for s in summaries])
    rows.append(["TOTAL (flow call)"] + [f"{s['total_s']:.3f}" for s in summaries])
    rows.append(["rows/s"] + [f"{s['rows_per_s']:,.0f}" for s in summaries])
    rows.append(["bare total"] + [f"{s['bare_total_s']:.3f}" for s in summaries])
    rows.append(["ratio cycle/bare"] + [f"{s['ratio']:.2f}" for s in summaries])
    rows.append(["ratio without cyclic GC"] + [f"{s['ratio_without_gc']:.2f}" for s in summaries])
    rows.append(["GC s cycle / bare"] + [f"{s['gc_cycle_s']:.2f}/{s['gc_bare_s']:.2f}" for s in summaries])
    rows.append(["CPU s cycle (process)"] + [f"{s['cpu_s']:.3f}" for s in summaries])
    rows.append(["CPU s Prefect API server"] + [f"{s['api_server_cpu_s']:.3f}" for s in summaries])
    rows.append(["CPU s bare"] + [f"{s['bare_cpu_s']:.3f}" for s in summaries])
    rows.append(["CPU ratio (cycle+server)/bare"] + [f"{s['cpu_ratio']:.2f}" for s in summaries])
    rows.append(["RSS before cycle MiB"] + [f"{s['rss_before_mib']:.0f}" for s in summaries])
    rows.append(["  (before malloc_trim)"] + [f"{s['rss_before_untrimmed_mib']:.0f}" for s in summaries])
    rows.append(
        ["peak RSS 1st cycle MiB"] + [f"{s['peak_rss_cycle_first_repeat_mib']:.0f}" for s in summaries]
    )
    rows.append(
        ["peak RSS cycle MiB"]
        + [f"{s['peak_rss_cycle_mib']:.0f}" if s["peak_rss_cycle_mib"] else "n/a" for s in summaries]
    )
    rows.append(["peak RSS worker MiB"] + [f"{s['peak_rss_process_mib']:.0f}" for s in summaries])
    rows.append(["--- sub-stages"] + [""] * len(summaries))
    for name, _ in SUBSTAGES:
        rows.append([name] + [f"{s['stages_s'][name]:.3f}" for s in summaries])
    rows.append(["--- peak RSS MiB per stage"] + [""] * len(summaries))
    for name in stage_names:
        rows.append([f"peak.{name}"] + [f"{s['stage_peak_rss_mib'][name]:.0f}" for s in summaries])
    rows.append(["--- RSS growth MiB in stage"] + [""] * len(summaries))
    for name in stage_names:
        rows.append([f"grow.{name}"] + [f"{s['stage_rss_growth_mib'][name]:.0f}" for s in summaries])
    rows.append(["--- CPU s per stage"] + [""] * len(summaries))
    for name in stage_names:
        rows.append([f"cpu.{name}"] + [f"{s['stages_cpu_s'][name]:.3f}" for s in summaries])
    rows.append(["--- bare calls"] + [""] * len(summaries))
    for name in BARE:
        rows.append([f"bare.{name}"] + [f"{s['bare_s'][name]:.3f}" for s in summaries])
    for name in BARE:
        rows.append([f"bare.cpu.{name}"] + [f"{s['bare_cpu_by_call_s'][name]:.3f}" for s in summaries])
    for name in BARE:
        rows.append([f"bare.peak.{name}"] + [f"{s['bare_peak_rss_mib'][name]:.0f}" for s in summaries])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))


def growth(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Log-log slope of time vs rows between consecutive sizes (1.0 = linear)."""
    import math

    out = []
    for a, b in zip(summaries, summaries[1:], strict=False):
        k = math.log(b["size"] / a["size"])
        entry = {
            "from": a["size"],
            "to": b["size"],
            "total_slope": math.log(b["total_s"] / a["total_s"]) / k,
            "stage_slopes": {},
        }
        for name in [s for s, _ in STAGES] + [s for s, _ in SUBSTAGES]:
            ta, tb = a["stages_s"][name], b["stages_s"][name]
            if ta > 0.005 and tb > 0:
                entry["stage_slopes"][name] = math.log(tb / ta) / k
        out.append(entry)
    return out


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    mem = next(
        (ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")),
        "0",
    )
    libs = [
        "prefect",
        "mlflow",
        "scikit-learn",
        "pandas",
        "numpy",
        "pyarrow",
        "evidently",
        "great-expectations",
        "sqlalchemy",
    ]
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(int(mem) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": {name: version(name) for name in libs},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--repeats-large", type=int, default=None, help="repeats for sizes ≥ 1M (default: --repeats)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write all records and medians here")
    parser.add_argument("--workdir", type=Path, default=None, help="keep work files here (default: temp)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=7, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        worker(args.size, args.repeats, args.workdir, args.result, args.seed)
        return 0

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="driftline-bench-")
        base = Path(tmp.name)
    else:
        base = args.workdir.resolve()
        base.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for i, size in enumerate(args.sizes):
            repeats = args.repeats_large if (args.repeats_large and size >= 1_000_000) else args.repeats
            workdir = base / f"size-{size}"
            shutil.rmtree(workdir, ignore_errors=True)
            result_path = base / f"result-{size}.json"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                "--size",
                str(size),
                "--repeats",
                str(repeats),
                "--workdir",
                str(workdir),
                "--result",
                str(result_path),
                "--seed",
                str(100 * (i + 1)),
            ]
            started = time.perf_counter()
            workdir.mkdir(parents=True)
            subprocess.run(cmd, check=True, cwd=workdir)
            print(f"[{size}] worker done in {time.perf_counter() - started:.0f}s", file=sys.stderr)
            results.append(json.loads(result_path.read_text()))
    finally:
        if tmp is not None:
            tmp.cleanup()

    summaries = [summarize(r) for r in results]
    print_table(summaries)
    slopes = growth(summaries)
    for g in slopes:
        print(f"growth {g['from']:,} → {g['to']:,}: total slope {g['total_slope']:.2f} (1.0 = linear)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"machine": machine(), "summaries": summaries, "growth": slopes, "raw": results}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
