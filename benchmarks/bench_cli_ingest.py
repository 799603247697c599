"""Whole-process benchmark: `driftline ingest BATCH --no-retrain` vs the same work as bare library calls.

Usage (from the repository root; results and method in docs/benchmarks.md, "Whole-process ingest"):

    .venv/bin/python benchmarks/bench_cli_ingest.py --sizes 10000 100000 --repeats 5 \
        --json benchmarks/results_cli_ingest.json

What it does:

1. **Project, once.** ``driftline demo --dir WORK/demo --months 1`` through the CLI: the demo
   project (2013 NYC flights; Jan–Feb give the contract and the champion, March is ingested).
2. **Batches.** Each timed run gets a new CSV file (the demo's format, labels included): a seeded
   random sample of N flights from April–December, sorted by time. A new seed gives new content,
   so no batch is a duplicate. Every ingest must come back ``accepted``. The pandas work runs in
   short helper processes, so this parent stays small (a child's peak RSS from ``wait4`` is
   floored at the parent's RSS when it was spawned; ``parent_peak_rss_mib`` is recorded).
3. **Warm-up, untimed.** One CLI ingest and one bare run of a 10k batch (page cache, the bare
   SQLite file, the bare MLflow run).
4. **Alternating groups.** For each size and repeat, four fresh subprocesses, in an order that
   alternates between repeats (as listed on even repeats, reversed on odd ones):
   * ``driftline ingest BATCH --no-retrain --json`` (cwd: the project), as a user runs it: with
     the code of the working tree at that moment, so with the project's shared local Prefect API
     (``driftline/ops/local_api.py``) when that code is there. That API is a detached process: its CPU
     time during the command (``/proc`` of the ``driftline.ops.local_api`` processes of this project
     and their descendants) is added to the command's;
   * the same with ``DRIFTLINE_LOCAL_API=0`` on another new file: a temporary Prefect server per
     command, the behaviour before the shared API (``--no-per-command-api`` skips it);
   * ``python benchmarks/bare_ingest.py BATCH --spec ...`` (the work listed in issue 10), on the
     first CLI's file;
   * the same with ``--extras`` (plus labels, realized metrics, SHAP attribution: what the CLI
     also does by default on a labeled batch).
   Each child is timed from spawn to exit: wall time, and CPU time (user + system) from
   ``os.wait4``, which includes the child's reaped descendants (a temporary Prefect server is
   one: Prefect terminates and waits for it). Also recorded per child: peak RSS, and the share of
   its wall time during which some task on the machine waited for a CPU (``/proc/pressure/cpu``
   "some" total, delta / wall).
5. **Where the CLI's time goes.** From the project's Prefect database: the flow run's start and
   end, and each task run's duration. Spawn → flow start is start-up (imports, config, the
   ephemeral API server, flow engine set-up); flow end → exit is shut-down. The MLflow monitoring
   run's ``stage_seconds.*`` metrics are kept as well.
6. **Fixed costs**, each in fresh processes (medians of ``--fixed-repeats``): ``python -c pass``,
   ``import X`` for the heavy libraries one at a time, ``import flows.batch_cycle`` (everything the
   ingest command imports before its flow runs), ``driftline --help``, a trivial one-task Prefect
   flow (ephemeral API, an existing Prefect database), the ephemeral API server alone (import,
   ``SubprocessASGIServer.start()``, ``stop()``), the trivial flow against an already running
   ``prefect server start`` (``PREFECT_API_URL`` set; the server is started for this and stopped
   by its pid), and ``driftline ingest`` of a file already ingested (a duplicate: the whole
   command with no batch work), with the shared API and with ``DRIFTLINE_LOCAL_API=0``.

Ratios are CLI ÷ bare, per group, then the median over the repeats (wall and CPU).
The git commit (and a hash of uncommitted changes to tracked files, since the CLI runs from the
working tree) is recorded at the start and at the end of the run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DRIFTLINE = str(BIN / "driftline")
BARE = str(ROOT / "benchmarks" / "bare_ingest.py")
WARMUP_ROWS = 10_000
HEAVY_IMPORTS = [
    "pandas",
    "sklearn.ensemble",
    "scipy.stats",
    "sqlalchemy",
    "prefect",
    "mlflow",
    "skops.io",
    "great_expectations",
    "evidently",
    "shap",
]


# ---------------------------------------------------------------------------------------------
# Measurement helpers
# ---------------------------------------------------------------------------------------------
def cpu_stall_us() -> int | None:
    """µs during which some runnable task waited for a CPU (machine-wide PSI "some" total)."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return None
    return int(first.rsplit("total=", 1)[1])


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def child_env() -> dict[str, str]:
    """The same environment for every child: Driftline's PROCESS_ENV (explicit values win)."""
    sys.path.insert(0, str(ROOT))
    from driftline.core.env import PROCESS_ENV

    env = dict(os.environ)
    for key, value in PROCESS_ENV.items():
        env.setdefault(key, value)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_child(
    argv: list[str], *, cwd: Path, env: dict[str, str], stdout: Path | None = None, check: bool = True
) -> dict[str, Any]:
    """Run one fresh process; wall time spawn → exit, CPU and peak RSS from wait4 (the child and its
    reaped descendants), and the machine's CPU stall share meanwhile."""
    with contextlib.ExitStack() as stack:
        out: Any = stack.enter_context(stdout.open("wb")) if stdout else subprocess.DEVNULL
        err_file = stack.enter_context(tempfile.TemporaryFile())
        stall0, load0, t_epoch = cpu_stall_us(), loadavg(), time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err_file)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        t_end, stall1 = time.time(), cpu_stall_us()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err_file.seek(0)
        stderr = err_file.read().decode(errors="replace")
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{stderr[-3000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "max_rss_mib": usage.ru_maxrss / 1024,
        "cpu_stall_share": None if stall0 is None or stall1 is None else (stall1 - stall0) / 1e6 / wall,
        "loadavg_1m_before": load0,
        "started_epoch": t_epoch,
        "ended_epoch": t_end,
        "returncode": proc.returncode,
        "stderr_tail": stderr[-500:] if proc.returncode else "",
    }


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return float(statistics.median(values)) if values else None


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    diff = git("diff", "HEAD")
    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "subject": git("log", "-1", "--format=%s").strip(),
        "uncommitted_tracked": [line[3:] for line in git("status", "--porcelain", "-uno").splitlines()],
        "uncommitted_diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:16] if diff else None,
        # New files the CLI may import (the working tree is what runs), with a content hash.
        "untracked_py": {
            name: hashlib.sha256((ROOT / name).read_bytes()).hexdigest()[:16]
            for name in git("ls-files", "--others", "--exclude-standard").split()
            if name.endswith(".py") and (ROOT / name).is_file() and not name.startswith("benchmarks/")
        },
    }


def api_server_cpu_s(marker: str) -> float:
    """CPU seconds so far of the shared local Prefect API processes (``driftline.ops.local_api``) of
    the benchmark's project, and their descendants: a detached process, so no wait4 of a command
    counts it. Each run's delta is added to the CLI's CPU time."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    roots: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])
        if "driftline.ops.local_api" in cmdline and marker in cmdline:
            roots.append(pid)
    mine, frontier = set(roots), list(roots)
    while frontier:
        pid = frontier.pop()
        kids = [c for c, p in parents.items() if p == pid and c not in mine]
        mine.update(kids)
        frontier.extend(kids)
    return sum(ticks[p] for p in mine) / tick


def machine() -> dict[str, Any]:
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model,
        "mem_total_kib": int(mem.split()[1]),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def versions(env: dict[str, str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
        "['prefect','mlflow','scikit-learn','pandas','numpy','pyarrow','evidently',"
        "'great-expectations','sqlalchemy','skops','shap']}))"
    )
    return json.loads(
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    )


# ---------------------------------------------------------------------------------------------
# Project and batches
# ---------------------------------------------------------------------------------------------
def prepare_project(workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    demo = workdir / "demo"
    timing = run_child([DRIFTLINE, "demo", "--dir", str(demo), "--months", "1"], cwd=workdir, env=env)
    spec = workdir / "spec.json"
    run_child(
        [sys.executable, BARE, "--make-spec", "--config", str(demo / "driftline.yaml"), "--out", str(spec)],
        cwd=workdir,
        env=env,
    )
    return {"demo": demo, "spec": spec, "demo_seconds": timing["wall_s"]}


def make_pool(out: Path) -> None:
    """April–December flights in the demo's batch format (the month column only names a batch)."""
    sys.path.insert(0, str(ROOT))
    from driftline.jobs.demo_data import load_flights

    flights = load_flights()
    flights[flights["month"] >= 4].drop(columns=["month"]).reset_index(drop=True).to_parquet(out, index=False)


def sample_batch(pool: Path, rows: int, seed: int, out: Path) -> None:
    import pandas as pd

    part = pd.read_parquet(pool).sample(n=rows, random_state=seed)
    part.sort_values(["time_hour", "flight_id"], kind="stable").to_csv(out, index=False)


# pandas work runs in short helper processes: a child's peak RSS (wait4) is floored at the RSS of
# the parent when it was spawned, so the parent must stay small.
def flight_pool(workdir: Path, env: dict[str, str]) -> Path:
    pool = workdir / "pool.parquet"
    run_child([sys.executable, __file__, "--make-pool", str(pool)], cwd=workdir, env=env)
    return pool


def write_batch(pool: Path, rows: int, seed: int, folder: Path, env: dict[str, str]) -> Path:
    path = folder / f"batch-{rows}-{seed}.csv"
    argv = [sys.executable, __file__, "--sample-batch", str(pool), str(rows), str(seed), str(path)]
    run_child(argv, cwd=folder, env=env)
    return path


# ---------------------------------------------------------------------------------------------
# Where the CLI's time went: Prefect's flow and task runs, MLflow's stage metrics
# ---------------------------------------------------------------------------------------------
def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(str(text)).replace(tzinfo=dt.UTC).timestamp()


def prefect_breakdown(prefect_db: Path, started: float, ended: float) -> dict[str, Any] | None:
    """The batch-cycle flow run that ran between `started` and `ended` (epoch seconds)."""
    if not prefect_db.is_file():
        return None
    with contextlib.closing(sqlite3.connect(prefect_db)) as db:
        rows = db.execute(
            "SELECT fr.id, fr.start_time, fr.end_time FROM flow_run fr JOIN flow f ON f.id = fr.flow_id "
            "WHERE f.name = 'batch-cycle' ORDER BY fr.created DESC LIMIT 20"
        ).fetchall()
        for run_id, start, end in rows:
            s, e = _epoch(start), _epoch(end)
            if s is not None and e is not None and started - 1 <= s <= ended + 1:
                tasks: dict[str, float] = {}
                for name, t_start, t_end in db.execute(
                    "SELECT name, start_time, end_time FROM task_run WHERE flow_run_id = ?", (run_id,)
                ):
                    a, b = _epoch(t_start), _epoch(t_end)
                    if a is not None and b is not None:
                        key = name.rsplit("-", 1)[0]
                        tasks[key] = tasks.get(key, 0.0) + b - a
                return {
                    "before_flow_s": s - started,
                    "flow_run_s": e - s,
                    "after_flow_s": ended - e,
                    "tasks_s": tasks,
                    "flow_minus_tasks_s": (e - s) - sum(tasks.values()),
                }
    return None


def mlflow_stage_metrics(mlflow_db: Path, step: int) -> dict[str, float]:
    """`stage_seconds.*` and `cycle_seconds` the monitoring run logged for batch number `step`."""
    with contextlib.closing(sqlite3.connect(mlflow_db)) as db:
        found = db.execute(
            "SELECT run_uuid FROM tags WHERE key = 'driftline.kind' AND value = 'monitoring'"
        ).fetchone()
        if not found:
            return {}
        return {
            key: value
            for key, value in db.execute(
                "SELECT key, value FROM metrics WHERE run_uuid = ? AND step = ? AND "
                "(key LIKE 'stage_seconds.%' OR key = 'cycle_seconds')",
                (found[0], step),
            )
        }


# ---------------------------------------------------------------------------------------------
# The three kinds of children
# ---------------------------------------------------------------------------------------------
class Runner:
    def __init__(self, workdir: Path, project: dict[str, Any], env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.demo: Path = project["demo"]
        self.spec: Path = project["spec"]
        self.bare_dir = workdir / "bare"
        self.out_dir = workdir / "out"
        self.out_dir.mkdir(exist_ok=True)
        self.prefect_db = self.demo / ".driftline" / "prefect" / "prefect.db"
        self.mlflow_db = self.demo / ".driftline" / "mlflow.db"

    def cli(
        self, batch: Path, tag: str, *, expect: str = "accepted", shared_api: bool = True
    ) -> dict[str, Any]:
        """`driftline ingest`; ``shared_api=False`` sets DRIFTLINE_LOCAL_API=0 (each command then
        starts and stops Prefect's temporary server of its own)."""
        out = self.out_dir / f"cli{'' if shared_api else '-per-command-api'}-{tag}.json"
        env = self.env if shared_api else self.env | {"DRIFTLINE_LOCAL_API": "0"}
        api0 = api_server_cpu_s(str(self.demo))
        rec = run_child(
            [DRIFTLINE, "ingest", str(batch), "--no-retrain", "--json"],
            cwd=self.demo,
            env=env,
            stdout=out,
        )
        rec["api_server_cpu_s"] = api_server_cpu_s(str(self.demo)) - api0
        rec["own_cpu_s"] = rec["cpu_s"]
        rec["cpu_s"] = rec["own_cpu_s"] + rec["api_server_cpu_s"]
        result = json.loads(out.read_text())
        if result.get("status") != expect:
            raise SystemExit(f"{batch.name}: status {result.get('status')!r}, expected {expect!r}")
        rec["status"] = result["status"]
        rec["rows"] = result.get("rows")
        rec["seq"] = result.get("seq")
        rec["contract_verdict"] = (result.get("contract") or {}).get("verdict")
        rec["prefect"] = prefect_breakdown(self.prefect_db, rec["started_epoch"], rec["ended_epoch"])
        rec["stage_metrics"] = mlflow_stage_metrics(self.mlflow_db, rec["seq"]) if rec.get("seq") else {}
        return rec

    def bare(self, batch: Path, tag: str, *, extras: bool) -> dict[str, Any]:
        api0 = api_server_cpu_s(str(self.demo))
        rec = self._bare(batch, tag, extras=extras)
        rec["api_server_cpu_s_meanwhile"] = api_server_cpu_s(str(self.demo)) - api0  # not added
        return rec

    def _bare(self, batch: Path, tag: str, *, extras: bool) -> dict[str, Any]:
        out = self.out_dir / f"bare{'-extras' * extras}-{tag}.json"
        argv = [sys.executable, BARE, str(batch), "--spec", str(self.spec), "--workdir", str(self.bare_dir)]
        argv += ["--json-out", str(out)] + (["--extras"] if extras else [])
        rec = run_child(argv, cwd=self.workdir, env=self.env)
        rec["inside"] = json.loads(out.read_text())
        return rec


def run_group(
    runner: Runner, batches: dict[str, Path], tag: str, repeat: int, *, extras: bool, per_command: bool
) -> dict[str, Any]:
    """One alternating group. Each CLI kind ingests its own new file (a batch is ingested once per
    project); the bare runs use the CLI's file."""
    kinds = ["cli"] + (["cli_per_command_api"] if per_command else []) + ["bare"]
    kinds += ["bare_extras"] if extras else []
    order = kinds if repeat % 2 == 0 else kinds[::-1]
    got: dict[str, Any] = {}
    for kind in order:
        if kind == "cli":
            got[kind] = runner.cli(batches["cli"], tag)
        elif kind == "cli_per_command_api":
            got[kind] = runner.cli(batches[kind], tag, shared_api=False)
        else:
            got[kind] = runner.bare(batches["cli"], tag, extras=kind == "bare_extras")
    rec: dict[str, Any] = {"repeat": repeat, "order": order, **got}
    for cli in [k for k in kinds if k.startswith("cli")]:
        suffix = "" if cli == "cli" else f"_{cli}"
        for kind in [k for k in kinds if k.startswith("bare")]:
            rec[f"ratio_wall_vs_{kind}{suffix}"] = got[cli]["wall_s"] / got[kind]["wall_s"]
            rec[f"ratio_cpu_vs_{kind}{suffix}"] = got[cli]["cpu_s"] / got[kind]["cpu_s"]
    return rec


# ---------------------------------------------------------------------------------------------
# Fixed costs of a fresh process
# ---------------------------------------------------------------------------------------------
TRIVIAL_FLOW = """
from prefect import flow, task

@task
def one() -> int:
    return 1

@flow
def trivial() -> int:
    return one()

assert trivial() == 1
"""

SERVER_START_STOP = """
import json, time
t0 = time.perf_counter()
from prefect.server.api.server import SubprocessASGIServer
t1 = time.perf_counter()
server = SubprocessASGIServer()
server.start(timeout=120)
t2 = time.perf_counter()
server.stop()
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "start_s": t2 - t1, "stop_s": t3 - t2}))
"""


def stop_shared_api(prefect_home: Path, env: dict[str, str]) -> None:
    """Stop the shared local Prefect API the benchmark's commands started (through Driftline's
    own stop, which only ends the process recorded in that project's state file); best effort:
    the API also stops by itself when idle, and older code has none."""
    if not prefect_home.is_dir():
        return
    code = (
        "import sys; from pathlib import Path; from driftline.ops.local_api import stop; "
        "stop(Path(sys.argv[1]))"
    )
    subprocess.run([sys.executable, "-c", code, str(prefect_home)], env=env, cwd=ROOT, capture_output=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def prefect_server(env: dict[str, str], home: Path) -> Any:
    """A real `prefect server start` for the duration (stopped with SIGTERM, by its pid)."""
    import urllib.request

    port = free_port()
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env | {"PREFECT_HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise SystemExit("prefect server did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def fixed_costs(runner: Runner, repeats: int, duplicate: Path) -> dict[str, Any]:
    env, cwd = runner.env, runner.workdir
    py = [sys.executable]
    flow_home = runner.workdir / "prefect-trivial"
    flow_home.mkdir(exist_ok=True)
    flow_env = env | {"PREFECT_HOME": str(flow_home), "PREFECT_LOGGING_LEVEL": "WARNING"}
    flow_script = runner.workdir / "trivial_flow.py"
    flow_script.write_text(TRIVIAL_FLOW)
    cases: list[tuple[str, list[str], dict[str, str], Path]] = [
        ("python -c pass", [*py, "-c", "pass"], env, cwd)
    ]
    for module in HEAVY_IMPORTS:
        cases.append((f"import {module}", [*py, "-c", f"import {module}"], env, cwd))
    cases.append(
        (
            "import flows.batch_cycle",
            [*py, "-c", "import flows.batch_cycle"],
            env | {"PYTHONPATH": str(ROOT)},
            cwd,
        )
    )
    cases.append(("driftline --help", [DRIFTLINE, "--help"], env, cwd))
    cases.append(("trivial 1-task Prefect flow (ephemeral API)", [*py, str(flow_script)], flow_env, cwd))
    run_child([*py, str(flow_script)], cwd=cwd, env=flow_env)  # creates its Prefect database, untimed
    server_script = runner.workdir / "server_start_stop.py"
    server_script.write_text(SERVER_START_STOP)
    server_case = "ephemeral Prefect API server alone (import + start + stop)"
    cases.append((server_case, [*py, str(server_script)], flow_env, cwd))
    found: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in cases}
    found["driftline ingest (duplicate batch: no batch work)"] = []
    found["driftline ingest duplicate, DRIFTLINE_LOCAL_API=0"] = []
    for k in range(repeats):
        for name, argv, case_env, case_cwd in cases:
            out = runner.out_dir / "fixed-case.json"
            found[name].append(run_child(argv, cwd=case_cwd, env=case_env, stdout=out))
            if name == server_case:
                found[name][-1]["inside"] = json.loads(out.read_text())
        found["driftline ingest (duplicate batch: no batch work)"].append(
            runner.cli(duplicate, f"duplicate-{k}", expect="duplicate")
        )
        found["driftline ingest duplicate, DRIFTLINE_LOCAL_API=0"].append(
            runner.cli(duplicate, f"duplicate-{k}", expect="duplicate", shared_api=False)
        )
    running = "trivial 1-task Prefect flow (against an already running `prefect server`)"
    server_home = runner.workdir / "prefect-server"
    server_home.mkdir(exist_ok=True)
    with prefect_server(env, server_home) as url:
        server_env = env | {"PREFECT_HOME": str(server_home), "PREFECT_API_URL": url}
        run_child([*py, str(flow_script)], cwd=cwd, env=server_env)  # untimed first run
        found[running] = [run_child([*py, str(flow_script)], cwd=cwd, env=server_env) for _ in range(repeats)]
    summary = {}
    for name, recs in found.items():
        summary[name] = {
            "wall_s": median([r["wall_s"] for r in recs]),
            "cpu_s": median([r["cpu_s"] for r in recs]),
            "max_rss_mib": median([r["max_rss_mib"] for r in recs]),
            "cpu_stall_share": median([r["cpu_stall_share"] for r in recs]),
            "wall_all": [round(r["wall_s"], 2) for r in recs],
            "cpu_all": [round(r["cpu_s"], 2) for r in recs],
        }
        inside = [r["inside"] for r in recs if r.get("inside")]
        if inside:
            summary[name] |= {k: median([i[k] for i in inside]) for k in inside[0]}
        prefect = [r["prefect"] for r in recs if r.get("prefect")]
        if prefect:
            summary[name]["before_flow_s"] = median([p["before_flow_s"] for p in prefect])
            summary[name]["flow_run_s"] = median([p["flow_run_s"] for p in prefect])
            summary[name]["after_flow_s"] = median([p["after_flow_s"] for p in prefect])
    return {"summary": summary, "records": found}


# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------
CLI_KINDS = ("cli", "cli_per_command_api")
BARE_KINDS = ("bare", "bare_extras")


def _breakdown(prefect: list[dict[str, Any]]) -> dict[str, Any]:
    task_names = sorted({t for p in prefect for t in p["tasks_s"]})
    return {
        "before_flow (imports, config, Prefect API connect/start, engine)": median(
            [p["before_flow_s"] for p in prefect]
        ),
        "flow_run": median([p["flow_run_s"] for p in prefect]),
        "after_flow (engine teardown, API stop, interpreter exit)": median(
            [p["after_flow_s"] for p in prefect]
        ),
        "flow_minus_tasks (glue, registry, attribution, state, publish)": median(
            [p["flow_minus_tasks_s"] for p in prefect]
        ),
        "tasks": {t: median([p["tasks_s"].get(t, 0.0) for p in prefect]) for t in task_names},
    }


def summarize(size: int, groups: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = [k for k in (*CLI_KINDS, *BARE_KINDS) if k in groups[0]]
    out: dict[str, Any] = {"size": size, "repeats": len(groups)}
    for kind in kinds:
        out[kind] = {
            "wall_s": median([g[kind]["wall_s"] for g in groups]),
            "cpu_s": median([g[kind]["cpu_s"] for g in groups]),
            "max_rss_mib": median([g[kind]["max_rss_mib"] for g in groups]),
            "wall_all": [round(g[kind]["wall_s"], 2) for g in groups],
            "cpu_all": [round(g[kind]["cpu_s"], 2) for g in groups],
            "cpu_stall_share_all": [
                None if g[kind]["cpu_stall_share"] is None else round(g[kind]["cpu_stall_share"], 3)
                for g in groups
            ],
        }
        if kind in CLI_KINDS:
            out[kind]["own_cpu_s"] = median([g[kind]["own_cpu_s"] for g in groups])
            out[kind]["api_server_cpu_s"] = median([g[kind]["api_server_cpu_s"] for g in groups])
    for key in [k for k in groups[0] if k.startswith("ratio_")]:
        out[key] = median([g[key] for g in groups])
        out[key + "_all"] = [round(g[key], 3) for g in groups]
    for kind in [k for k in CLI_KINDS if k in kinds]:
        prefect = [g[kind]["prefect"] for g in groups if g[kind].get("prefect")]
        if prefect:
            out[f"{kind}_breakdown_s"] = _breakdown(prefect)
        stage_keys = sorted({k for g in groups for k in g[kind].get("stage_metrics", {})})
        out[f"{kind}_stage_metrics_s"] = {
            k: median([g[kind]["stage_metrics"].get(k) for g in groups]) for k in stage_keys
        }
    for kind in [k for k in BARE_KINDS if k in kinds]:
        inside = [g[kind]["inside"] for g in groups]
        out[f"{kind}_inside_s"] = {
            "imports": {k: median([i["imports_s"].get(k) for i in inside]) for k in inside[0]["imports_s"]},
            "stages": {k: median([i["stages_s"].get(k) for i in inside]) for k in inside[0]["stages_s"]},
            "in_process_wall": median([i["in_process_wall_s"] for i in inside]),
        }
    return out


def print_summary(summary: dict[str, Any]) -> None:
    size = summary["size"]
    print(f"\n== {size:,} rows, {summary['repeats']} alternating groups (medians) ==")
    for kind in (*CLI_KINDS, *BARE_KINDS):
        if kind in summary:
            s = summary[kind]
            api = f" (API server {s['api_server_cpu_s']:.2f})" if "api_server_cpu_s" in s else ""
            print(
                f"  {kind:20s} wall {s['wall_s']:6.2f} s  cpu {s['cpu_s']:6.2f} s{api}  "
                f"rss {s['max_rss_mib']:5.0f} MiB   walls {s['wall_all']}  stall {s['cpu_stall_share_all']}"
            )
    for key in [k for k in summary if k.startswith("ratio_wall_") and not k.endswith("_all")]:
        cpu = key.replace("ratio_wall_", "ratio_cpu_")
        print(
            f"  {key.replace('ratio_wall_', 'ratio '):40s} wall {summary[key]:.2f} {summary[key + '_all']}"
            f"  cpu {summary[cpu]:.2f} {summary[cpu + '_all']}"
        )
    for kind in CLI_KINDS:
        if f"{kind}_breakdown_s" in summary:
            b = summary[f"{kind}_breakdown_s"]
            print(f"  {kind} breakdown (Prefect flow/task runs):")
            for key, value in b.items():
                if key != "tasks":
                    print(f"    {key:66s} {value:6.2f} s")
            for key, value in b["tasks"].items():
                print(f"      task {key:61s} {value:6.2f} s")


def progress_line(size: int, r: int, group: dict[str, Any]) -> str:
    parts = [f"[{size}] {r}:"]
    for kind in (*CLI_KINDS, *BARE_KINDS):
        if kind in group:
            g = group[kind]
            parts.append(
                f"{kind} {g['wall_s']:.2f} s (cpu {g['cpu_s']:.2f}, stall {g['cpu_stall_share']:.2f})"
            )
    ratios = [
        f"{k[len('ratio_wall_') :]} {group[k]:.2f}/{group[k.replace('wall', 'cpu', 1)]:.2f}"
        for k in group
        if k.startswith("ratio_wall_")
    ]
    return " | ".join(parts) + " | ratios wall/cpu: " + ", ".join(ratios)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("--make-pool", "--sample-batch"):  # helper processes
        if sys.argv[1] == "--make-pool":
            make_pool(Path(sys.argv[2]))
        else:
            sample_batch(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3, help="alternating groups per size")
    parser.add_argument(
        "--repeats-large", type=int, default=None, help="groups for sizes ≥ 100k (default: --repeats)"
    )
    parser.add_argument("--fixed-repeats", type=int, default=3, help="runs of each fixed-cost case")
    parser.add_argument("--no-extras", action="store_true", help="skip the bare run with --extras")
    parser.add_argument(
        "--no-per-command-api",
        action="store_true",
        help="skip the CLI run with DRIFTLINE_LOCAL_API=0 (a temporary Prefect server per command)",
    )
    parser.add_argument("--no-fixed", action="store_true", help="skip the fixed-cost measurements")
    parser.add_argument(
        "--workdir", type=Path, help="keep the project and batches here (default: temp, deleted)"
    )
    parser.add_argument("--json", type=Path, help="write every record and the medians here")
    args = parser.parse_args()

    env = child_env()
    workdir = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="bench-cli-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "benchmark": "whole-process driftline ingest vs bare library calls",
        "git_start": git_state(),
        "machine": machine(),
        "versions": versions(env),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
    }
    try:
        t0 = time.perf_counter()
        project = prepare_project(workdir, env)
        print(f"demo project ready in {project['demo_seconds']:.0f} s: {project['demo']}", file=sys.stderr)
        result["demo_seconds"] = project["demo_seconds"]
        pool = flight_pool(workdir, env)
        batches = workdir / "batches"
        batches.mkdir(exist_ok=True)
        runner = Runner(workdir, project, env)
        warm = write_batch(pool, WARMUP_ROWS, 1, batches, env)
        # The first command may start the project's shared Prefect API: recorded, not in the medians.
        result["warmup_cli"] = runner.cli(warm, "warmup")
        result["warmup_bare"] = runner.bare(warm, "warmup", extras=True)
        per_command = not args.no_per_command_api
        result["sizes"] = {}
        seed = 100
        for size in args.sizes:
            repeats = args.repeats_large if (args.repeats_large and size >= 100_000) else args.repeats
            groups = []
            for r in range(repeats):
                seed += 1
                files = {"cli": write_batch(pool, size, seed, batches, env)}
                if per_command:
                    seed += 1
                    files["cli_per_command_api"] = write_batch(pool, size, seed, batches, env)
                group = run_group(
                    runner, files, f"{size}-{r}", r, extras=not args.no_extras, per_command=per_command
                )
                group["pool_seed"] = seed
                groups.append(group)
                print(progress_line(size, r, group), file=sys.stderr, flush=True)
                batch = files["cli"]
                for path in files.values():
                    if r < repeats - 1 or path != batch:
                        path.unlink()
            summary = summarize(size, groups)
            result["sizes"][str(size)] = {"summary": summary, "groups": groups}
            print_summary(summary)
            last = batch
        if not args.no_fixed:
            fixed = fixed_costs(runner, args.fixed_repeats, duplicate=last)
            result["fixed_costs"] = fixed
            print("\n== fixed costs, fresh processes (medians) ==")
            for name, s in fixed["summary"].items():
                extra = ""
                if "start_s" in s:
                    extra = (
                        f"  (import {s['import_s']:.2f}, start {s['start_s']:.2f}, stop {s['stop_s']:.2f})"
                    )
                if "flow_run_s" in s:
                    extra = f"  (before flow {s['before_flow_s']:.2f}, flow {s['flow_run_s']:.2f}"
                    extra += f", after {s['after_flow_s']:.2f})"
                print(f"  {name:52s} wall {s['wall_s']:6.2f} s  cpu {s['cpu_s']:6.2f} s{extra}")
        result["total_seconds"] = time.perf_counter() - t0
    finally:
        result["parent_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["git_end"] = git_state()
        if result["git_end"] != result["git_start"]:
            print("note: the working tree changed during the run (see git_start / git_end)", file=sys.stderr)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
            print(f"wrote {args.json}", file=sys.stderr)
        stop_shared_api(workdir / "demo" / ".driftline" / "prefect", env)
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
