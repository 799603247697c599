"""The real `driftline` command, as a user runs it (subprocesses, embedded default stores)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.streams import make_batch

pytestmark = pytest.mark.slow
DRIFTLINE = shutil.which("driftline")


def driftline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run([DRIFTLINE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    pd.concat([make_batch(900, seed=s, start=s * 900) for s in range(4)]).to_csv(
        root / "history.csv", index=False
    )
    done = driftline(
        "init",
        "--data",
        "history.csv",
        "--target",
        "y",
        "--time-column",
        "ts",
        "--id-column",
        "event_id",
        "--dir",
        "proj",
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    assert "PROMOTED" in done.stdout
    return root / "proj"


def first_champion(project: Path) -> str:
    """The version init's first promotion made champion (the ledger's first entry)."""
    models = json.loads(driftline("models", "--json", cwd=project).stdout)
    return str(models["ledger"][0]["to_version"])


def test_help_lists_the_commands():
    done = subprocess.run([DRIFTLINE, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("ingest", "labels", "status", "retrain", "promote", "rollback", "models", "explain"):
        assert command in done.stdout


def test_ingest_json_and_exit_codes(project):
    good = make_batch(700, seed=50, start=50_000)
    good.to_csv(project / "good.csv", index=False)
    done = driftline("ingest", "good.csv", "--json", "--no-retrain", cwd=project)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "accepted" and out["rows"] == 700
    served = first_champion(project)
    assert out["scoring"] == {**out["scoring"], "model_version": served, "rows_scored": 700}
    assert set(out["contract"]) >= {"success", "failures"} and out["contract"]["success"] is True
    assert set(out["drift"]) >= {"detected", "share", "drifted_columns", "report"}
    assert out["performance"][f"champion:{served}"]["n"] == 700
    assert set(out["decision"]) >= {"retrain", "reasons"}

    again = driftline("ingest", "good.csv", "--json", cwd=project)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "duplicate"

    good.assign(x2="oops").to_csv(project / "typed.csv", index=False)
    bad = driftline("ingest", "typed.csv", "--json", cwd=project)
    assert bad.returncode == 3, bad.stderr
    failures = json.loads(bad.stdout)["contract"]["failures"]
    assert any(f["column"] == "x2" and f["severity"] == "block" for f in failures)


def test_bad_config_exits_2_with_one_line(project, tmp_path):
    (tmp_path / "driftline.yaml").write_text("project: p\ndata: {target: y}\nwindow: {batches: 0}\n")
    done = driftline("status", cwd=tmp_path)
    assert done.returncode == 2
    assert "window.batches" in done.stderr and "0" in done.stderr


def test_models_and_explain(project):
    done = driftline("models", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    models = json.loads(done.stdout)
    champion = [v["version"] for v in models["versions"] if "champion" in v["aliases"]]
    assert champion == [models["ledger"][0]["to_version"]]
    make_batch(3, seed=60, start=90_000).drop(columns=["y"]).to_csv(project / "rows.csv", index=False)
    done = driftline("explain", "--rows", "rows.csv", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert [r["row_key"] for r in rows] == ["e90000", "e90001", "e90002"]
    assert all(len(r["top"]) == 5 and {"feature", "value", "contribution"} <= set(r["top"][0]) for r in rows)


def test_status_config_retrain_promote_rollback(project):
    done = driftline("status", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    first = first_champion(project)
    assert status["champion"]["version"] == first and status["batches"]["quarantined"] >= 1
    assert status["quarantine"][0]["reason"] and status["latest_drift"]["share"] is not None

    shown = driftline("config", "show", cwd=project)
    assert shown.returncode == 0 and "target: y" in shown.stdout and "drift_share: 0.5" in shown.stdout

    # a gate no candidate can pass (superiority by 0.5 AUC): the rejection path, then the override
    config = project / "driftline.yaml"
    original = config.read_text()
    settings = yaml.safe_load(original)
    settings["gate"] = {**(settings.get("gate") or {}), "rule": "superiority", "margin": 0.5}
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    try:
        done = driftline("retrain", "--reason", "cli test", "--json", cwd=project)
    finally:
        config.write_text(original)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    version = result["version"]
    assert int(version) > int(first)
    assert (result["gate"]["verdict"], result["promoted"]) == ("reject", False)
    done = driftline("promote", version, "--reason", "approved by a person", cwd=project)
    assert done.returncode == 0, done.stderr
    again = driftline("promote", version, "--reason", "twice", cwd=project)
    assert again.returncode == 1 and "already the champion" in again.stderr

    done = driftline("rollback", "--reason", "cli test", cwd=project)
    assert done.returncode == 0, done.stderr
    models = json.loads(driftline("models", "--json", cwd=project).stdout)
    champion = [v["version"] for v in models["versions"] if "champion" in v["aliases"]]
    assert champion == [first] and models["ledger"][-1]["action"] == "rollback"


def test_contract_accept_brings_a_quarantined_batch_back_under_its_id(project):
    batch = make_batch(600, seed=77, start=77_000)
    batch["x1"] = batch["x1"] * 1000  # a jump the scale rule blocks
    batch.to_csv(project / "scaled.csv", index=False)
    first = driftline("ingest", "scaled.csv", "--json", "--no-retrain", cwd=project)
    assert first.returncode == 3, first.stderr
    quarantined = json.loads(first.stdout)
    review = json.loads(driftline("contract", "review", "--json", cwd=project).stdout)
    assert quarantined["batch_id"] in review["quarantined"]
    assert any(r["column"] == "x1" for r in review["rules"])
    done = driftline(
        "contract",
        "accept",
        quarantined["batch_id"],
        "--reason",
        "new sensor, verified",
        "--json",
        cwd=project,
    )
    assert done.returncode == 0, done.stderr
    accepted = json.loads(done.stdout)
    assert accepted["batch"]["batch_id"] == quarantined["batch_id"]
    assert accepted["batch"]["status"] == "accepted" and accepted["batch"]["rows"] == 600
    assert accepted["ledger"]["reason"] == "new sensor, verified"
    diff = json.loads(driftline("contract", "diff", "--json", cwd=project).stdout)
    assert diff["to"] == diff["from"] + 1 and any("'x1'" in line for line in diff["changes"])
    again = driftline("ingest", "scaled.csv", "--json", cwd=project)
    assert json.loads(again.stdout)["status"] == "duplicate"


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append((int(stat.parent.name), cmdline))
    return found


def test_sigterm_stops_the_command_and_its_ephemeral_prefect_server(project):
    import signal
    import time

    from driftline.ops.local_api import ENABLED_ENV

    make_batch(500, seed=80, start=80_000).to_csv(project / "term.csv", index=False)
    # The per-command temporary server (the shared local API turned off; that one is below).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {ENABLED_ENV: "0"}
    proc = subprocess.Popen([DRIFTLINE, "ingest", "term.csv", "--no-retrain"], cwd=project, env=env)
    servers: list[tuple[int, str]] = []
    deadline = time.monotonic() + 120
    while not servers and time.monotonic() < deadline and proc.poll() is None:
        servers = [c for c in _children(proc.pid) if "uvicorn" in c[1]]
        time.sleep(0.2)
    assert servers, "the command never started its ephemeral Prefect server"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid, _ in servers):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid, _ in servers), "Prefect server left running"


def test_a_command_killed_mid_ingest_leaves_no_shared_api_running_for_long(project):
    import signal
    import time

    from driftline.core.config import load_config
    from driftline.core.processes import is_alive
    from driftline.ops.local_api import STATE_FILE

    make_batch(500, seed=81, start=81_000).to_csv(project / "term-shared.csv", index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    state = load_config(project / "driftline.yaml").prefect_home / STATE_FILE
    proc = subprocess.Popen([DRIFTLINE, "ingest", "term-shared.csv", "--no-retrain"], cwd=project, env=env)
    deadline = time.monotonic() + 180
    while not state.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert state.exists(), "the command never connected to the project's local Prefect API"
    api_pid = int(json.loads(state.read_text())["pid"])
    time.sleep(2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    # The API outlives its client by design, but not its idle time (30 s in the tests).
    deadline = time.monotonic() + 120
    while is_alive(api_pid) and time.monotonic() < deadline:
        time.sleep(1)
    assert not is_alive(api_pid), "the local Prefect API kept running with no client"
    assert not state.exists()
