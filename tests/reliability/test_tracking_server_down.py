"""The project's MLflow tracking server dies in the middle of a retrain.

A project that works through a real ``mlflow server`` (``DRIFTLINE_TRACKING_URI``, as while
``driftline up`` runs). ``driftline retrain`` runs in a subprocess and waits at a marker
(``DRIFTLINE_PAUSE_AT``, driftline.core.faults): its candidate registered, or the gate decided; the
test kills the server there (SIGKILL to its process group) and lets the retrain go on into it. It
must fail promptly with one line naming the server, move no alias, lose no batch, and after the
server is back on the same port a re-run completes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from driftline.core.config import TRACKING_URI_ENV, load_config
from driftline.core.faults import PAUSE_ENV
from driftline.core.processes import ManagedProcess, free_port, is_healthy, stop_process
from driftline.services import alerts
from driftline.store.state import StateStore
from mlflow_server.server import start_mlflow_server
from tests.streams import make_batch
from tests.test_cli import DRIFTLINE

pytestmark = pytest.mark.slow

_START_TIMEOUT_S = 240.0  # a cold `mlflow server` on a busy 2-core machine


@dataclass
class Tracking:
    """An ``mlflow server`` on a fixed loopback port that can be killed and started again."""

    folder: Path
    port: int
    proc: ManagedProcess | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        self.proc = start_mlflow_server(
            backend_store_uri=f"sqlite:///{(self.folder / 'mlflow.db').resolve()}",
            artifacts_destination=self.folder / "artifacts",
            port=self.port,
            log_path=self.folder / f"server-{self.starts}.log",
            pid_path=self.folder / "mlflow.pid",
            timeout=_START_TIMEOUT_S,
        )

    def kill(self) -> None:
        """SIGKILL the whole server (uvicorn and its worker), as a crash or the OOM killer would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while is_healthy(f"{self.url}/health") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not is_healthy(f"{self.url}/health")
        stop_process(self.proc)  # reaps it and removes the pid file

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def _env(tracking: Tracking, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return env | {TRACKING_URI_ENV: tracking.url} | extra


def run(tracking: Tracking, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DRIFTLINE, *args], cwd=cwd, env=_env(tracking), capture_output=True, text=True, timeout=600
    )


def as_json(tracking: Tracking, *args: str, cwd: Path) -> dict:
    done = run(tracking, *args, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracking-down")
    tracking = Tracking(root / "mlflow", free_port())
    tracking.folder.mkdir()
    tracking.start()
    try:
        pd.concat([make_batch(700, seed=s, start=s * 700) for s in range(4)]).to_csv(
            root / "history.csv", index=False
        )
        done = run(
            tracking, "init", "--data", "history.csv", "--target", "y", "--time-column", "ts",
            "--id-column", "event_id", "--dir", "proj", cwd=root,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield root / "proj", tracking
    finally:
        tracking.stop()


def champion_of(models: dict) -> str:
    (version,) = [v["version"] for v in models["versions"] if "champion" in v["aliases"]]
    return str(version)


def verified_load(project: Path, tracking: Tracking, version: str, monkeypatch) -> object:
    """Load `version` the way scoring does: its sha256 checked against the registration tag and
    the promotion ledger (raises ModelIntegrityError otherwise)."""
    from driftline.services.promotion import load_model
    from driftline.services.workspace import Workspace

    monkeypatch.setenv(TRACKING_URI_ENV, tracking.url)
    return load_model(Workspace(load_config(project / "driftline.yaml")), version)


def paused_retrain(project: Path, tracking: Tracking, point: str) -> tuple[subprocess.Popen, Path, Path]:
    """`driftline retrain` started and waiting at `point`; returns the process, its flag file and
    its log (a file, not a pipe: nothing it leaves behind can hold the test up)."""
    flag, log = project.parent / f"paused-at-{point}", project.parent / f"retrain-{point}.log"
    env = _env(tracking, **{PAUSE_ENV: f"{point}:{flag}"})
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [DRIFTLINE, "retrain", "--reason", f"server dies at {point}"],
            cwd=project, env=env, stdout=sink, stderr=sink,
        )  # fmt: skip
    deadline = time.monotonic() + 480
    while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert flag.exists(), f"the retrain never reached {point}: {log.read_text()[-3000:]}"
    return proc, flag, log


@pytest.mark.parametrize("point", ["retrain-registered", "retrain-gated"])
def test_the_server_dies_mid_retrain_no_alias_moves_no_batch_is_lost_and_a_rerun_completes(
    served, monkeypatch, point
):
    project, tracking = served
    before = as_json(tracking, "models", cwd=project)
    status_before = as_json(tracking, "status", cwd=project)
    champion = champion_of(before)

    proc, flag, log = paused_retrain(project, tracking, point)
    tracking.kill()
    flag.unlink()  # go on, into the dead server
    started = time.monotonic()
    code = proc.wait(timeout=600)
    took = time.monotonic() - started
    output = log.read_text()
    assert code == 1, output[-3000:]
    assert "Traceback" not in output
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert f"the MLflow tracking server {tracking.url} does not answer (connection refused)" in line, line
    assert f"retrain (server dies at {point}) failed" in line
    assert took < 120, f"the retrain took {took:.0f} s to notice the server was gone"

    tracking.start()  # the same store, the same port
    after = as_json(tracking, "models", cwd=project)
    assert champion_of(after) == champion  # the alias did not move
    assert after["ledger"] == before["ledger"]  # and no move was recorded
    known = {str(v["version"]) for v in before["versions"]}
    orphans = [v for v in after["versions"] if str(v["version"]) not in known]
    assert orphans, "the candidate registered before the server died should be in the registry"
    assert all("champion" not in v["aliases"] for v in orphans)  # registered, never promoted
    if point == "retrain-registered":
        assert all(v["gate"] is None for v in orphans)  # and never gated
    for version in after["versions"]:  # every alias names a whole version: it loads and verifies
        if version["aliases"]:
            assert verified_load(project, tracking, str(version["version"]), monkeypatch) is not None

    status = as_json(tracking, "status", cwd=project)
    assert status["unfinished"] == [] and status["batches"] == status_before["batches"]  # no batch lost
    failed = StateStore(load_config(project / "driftline.yaml").database_url).list_alerts(
        limit=5, kind=alerts.RETRAIN_FAILED
    )
    assert failed and tracking.url in failed[0]["message"]  # alerted, even with the server gone

    rerun = as_json(tracking, "retrain", "--reason", "after the server came back", cwd=project)
    assert rerun["status"] == "done", rerun
    final = as_json(tracking, "models", cwd=project)
    assert champion_of(final) == (str(rerun["version"]) if rerun["promoted"] else champion)
    for version in final["versions"]:
        if version["aliases"]:
            assert verified_load(project, tracking, str(version["version"]), monkeypatch) is not None
    entry = final["ledger"][-1]
    assert str(entry["to_version"]) == str(rerun["version"])  # the re-run's decision, recorded once
    assert len(final["ledger"]) == len(before["ledger"]) + 1
