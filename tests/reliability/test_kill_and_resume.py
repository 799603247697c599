"""kill -9 at each stage of a batch: nothing lost, no orphan server, the re-run finishes the batch.

The real `driftline` command in a subprocess; ``DRIFTLINE_FAULT_AT`` makes it SIGKILL itself at a
stage marker (driftline.core.faults), as a power cut would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from driftline.core.config import load_config
from driftline.core.faults import FAULT_ENV
from driftline.ops.local_api import ENABLED_ENV
from driftline.store.state import StateStore
from tests.streams import make_batch
from tests.test_cli import DRIFTLINE, driftline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    pd.concat([make_batch(700, seed=s, start=s * 700) for s in range(4)]).to_csv(
        root / "history.csv", index=False
    )
    done = driftline(
        "init", "--data", "history.csv", "--target", "y", "--time-column", "ts", "--id-column", "event_id",
        "--dir", "proj", cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root / "proj"


def killed_at(stage: str, *args: str, cwd: Path) -> tuple[int, str]:
    """Run the command until it kills itself at `stage`: (exit code, stderr). Output goes to a file,
    not a pipe: the orphaned server would hold a pipe open."""
    # The per-command temporary server, so there is an orphan to reap (the shared local API
    # outlives a killed client by design and stops when idle: tests/driftline/test_local_api.py).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        FAULT_ENV: stage,
        ENABLED_ENV: "0",
    }
    log = cwd / f"killed-{stage}.log"
    with log.open("w") as sink:
        code = subprocess.run(
            [DRIFTLINE, *args], cwd=cwd, env=env, stdout=sink, stderr=sink, timeout=600
        ).returncode
    return code, log.read_text()


def ephemeral_servers_of(project: Path) -> list[int]:
    """Live ephemeral Prefect API processes whose Prefect home is this project's."""
    home = f"PREFECT_HOME={load_config(project / 'driftline.yaml').prefect_home.resolve()}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"PREFECT__SERVER_EPHEMERAL=1" in environ and home in environ and state != "Z":
            found.append(int(entry.name))
    return found


def store(project: Path) -> StateStore:
    return StateStore(load_config(project / "driftline.yaml").database_url)


@pytest.mark.parametrize("stage", ["received", "scored", "monitored"])
def test_a_batch_killed_at_each_stage_is_redone_on_reingest(project, stage):
    seed = {"received": 1, "scored": 2, "monitored": 3}[stage]
    name = f"kill-{stage}.csv"
    make_batch(400, seed=900 + seed, start=900_000 + seed * 1000).to_csv(project / name, index=False)
    code, log = killed_at(stage, "ingest", name, "--no-retrain", cwd=project)
    assert code == -signal.SIGKILL, log[-2000:]
    assert ephemeral_servers_of(project), "the killed command should have left its Prefect server behind"

    status = driftline("status", "--json", cwd=project)
    assert status.returncode == 0, status.stderr
    summary = json.loads(status.stdout)
    (stuck,) = summary["unfinished"]
    assert stuck["stage"] == stage and stuck["source"] == name and Path(stuck["raw"]).is_file()
    assert any(a.startswith("UNFINISHED") for a in summary["alerts"])
    time.sleep(1)
    assert not ephemeral_servers_of(project), "the next command should have reaped the orphaned server"

    again = driftline("ingest", name, "--no-retrain", "--json", cwd=project)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["status"] == "accepted" and result["seq"] == stuck["seq"]
    batch = store(project).get_batch(result["batch_id"])
    assert batch.stage == "done" and batch.decision is not None
    logged = store(project).predictions_with_labels([result["batch_id"]])
    assert len(logged) == 400 and logged["row_key"].is_unique  # scored once, labels kept once


def test_recover_finishes_an_unfinished_batch_and_the_next_one_follows(project):
    make_batch(400, seed=950, start=950_000).to_csv(project / "kill-recover.csv", index=False)
    code, log = killed_at("scored", "ingest", "kill-recover.csv", "--no-retrain", cwd=project)
    assert code == -signal.SIGKILL, log[-2000:]
    stuck = store(project).unfinished_batches()
    assert [b.source for b in stuck] == ["kill-recover.csv"]

    recovered = driftline("recover", "--no-retrain", "--json", cwd=project)
    assert recovered.returncode == 0, recovered.stderr
    result = json.loads(recovered.stdout)
    assert result["status"] == "accepted" and result["source"] == "kill-recover.csv"
    assert store(project).unfinished_batches() == []

    make_batch(400, seed=951, start=951_000).to_csv(project / "after.csv", index=False)
    nxt = json.loads(driftline("ingest", "after.csv", "--no-retrain", "--json", cwd=project).stdout)
    assert nxt["status"] == "accepted" and nxt["seq"] == result["seq"] + 1
    seqs = [b.seq for b in store(project).list_batches()]
    assert seqs == list(range(1, len(seqs) + 1))  # unique and gap-free


@pytest.mark.parametrize("point", ["retrain-registered", "retrain-gated"])
def test_a_retrain_killed_midway_leaves_the_champion_whole_and_a_rerun_completes(project, point):
    before = json.loads(driftline("models", "--json", cwd=project).stdout)
    code, log = killed_at(point, "retrain", "--reason", f"kill at {point}", cwd=project)
    assert code == -signal.SIGKILL, log[-2000:]
    after = json.loads(driftline("models", "--json", cwd=project).stdout)
    champion = next(v for v in after["versions"] if "champion" in v["aliases"])
    assert champion["version"] == next(v for v in before["versions"] if "champion" in v["aliases"])["version"]
    assert after["ledger"] == before["ledger"]  # no move was recorded half-way
    rerun = driftline("retrain", "--reason", "after the crash", "--json", cwd=project)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["status"] == "done"


def _start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.Popen(
        [DRIFTLINE, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_the_same_content_ingested_twice_at_once_is_processed_once(project):
    batch = make_batch(400, seed=970, start=970_000)
    batch.to_csv(project / "twin-a.csv", index=False)
    batch.to_csv(project / "twin-b.csv", index=False)
    procs = [
        _start("ingest", name, "--no-retrain", "--json", cwd=project) for name in ("twin-a.csv", "twin-b.csv")
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-1500:] for o in outs]
    statuses = sorted(json.loads(o[0])["status"] for o in outs)
    assert statuses == ["accepted", "duplicate"]
    batch_id = json.loads(outs[0][0])["batch_id"]
    assert len(store(project).predictions_with_labels([batch_id])) == 400  # scored once


def test_concurrent_ingests_of_different_files_keep_a_unique_gap_free_sequence(project):
    names = []
    for k in range(3):
        make_batch(300, seed=980 + k, start=980_000 + k * 1000).to_csv(project / f"par-{k}.csv", index=False)
        names.append(f"par-{k}.csv")
    procs = [_start("ingest", name, "--no-retrain", "--json", cwd=project) for name in names]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-1500:] for o in outs]
    seqs = [b.seq for b in store(project).list_batches()]
    assert seqs == list(range(1, len(seqs) + 1))
