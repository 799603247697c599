"""A demo project served by `driftline up` (real MLflow + Prefect servers + runner), shared by the
server tests and the browser tests, plus small REST helpers.

Built once per session through the real command (`driftline demo`, one month, 5% of the flights)
in a subprocess, so its Prefect runs land in the project's own Prefect home, as a user's would.
The fixture is defined here and imported by both test packages; a module-level cache keeps it
to one project and one set of servers per session.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftline.core.config import DriftlineConfig, load_config
from driftline.core.processes import free_port
from driftline.ops.schedule import PrefectApi, RetrainSchedule, write_yaml_schedule
from driftline.ops.server_auth import read as read_credentials
from driftline.ops.servers import ServerUrls, active, prefect_client, servers_dir, start_all, stop_all

SCHEDULE = RetrainSchedule("15 4 * * 1", "Europe/Paris")  # Mondays 04:15, Paris time
DEMO_TIMEOUT_S = 600
START_TIMEOUT_S = 240.0
# Scheduled watch runs would race the runs the tests start themselves.
WATCH_INTERVAL_S = 3600.0
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}

_SHARED: dict[str, Any] = {}


@dataclass(frozen=True)
class ServedProject:
    """The project folder, its config and (looked up fresh: tests may restart them) its servers."""

    directory: Path
    config_path: Path
    cfg: DriftlineConfig

    @property
    def urls(self) -> ServerUrls:
        urls = active(self.cfg)
        assert urls is not None, "servers are not up"
        return urls

    @property
    def prefect(self) -> PrefectApi:
        return prefect_client(self.cfg, self.urls)

    @property
    def mlflow_auth(self) -> str:
        """``user:password`` of the MLflow server's admin (basic auth)."""
        creds = read_credentials(servers_dir(self.cfg))
        assert creds is not None, "up wrote no credentials"
        return f"{creds.mlflow_username}:{creds.mlflow_password}"

    def mlflow_json(self, endpoint: str, body: Any = None, **query: str) -> Any:
        """An MLflow REST call (``/api/2.0/mlflow/<endpoint>``) signed in as the admin."""
        url = f"{self.urls.mlflow}/api/2.0/mlflow/{endpoint}"
        if query:
            url += f"?{urllib.parse.urlencode(query)}"
        return http_json(url, body, auth=self.mlflow_auth)


def clean_env() -> dict[str, str]:
    """This process's environment without any pointer at a Prefect/MLflow server."""
    drop = ("PREFECT_API_URL", "PREFECT_HOME", "DRIFTLINE_TRACKING_URI", "MLFLOW_TRACKING_URI")
    return {k: v for k, v in os.environ.items() if k not in drop}


def build_demo(directory: Path) -> Path:
    """`driftline demo` into ``directory`` (a fresh folder); returns its driftline.yaml."""
    argv = [
        sys.executable,
        "-c",
        "from driftline.cli.app import main; main()",
        "demo",
        "--dir",
        str(directory),
        "--months",
        "1",
        "--sample",
        "0.05",
    ]
    done = subprocess.run(
        argv, cwd=directory.parent, env=clean_env(), capture_output=True, text=True, timeout=DEMO_TIMEOUT_S
    )
    assert done.returncode == 0, f"demo failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return directory / "driftline.yaml"


@pytest.fixture(scope="session")
def served_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProject]:
    """The demo project with a retrain schedule in its yaml, and `up` done on free ports."""
    if "project" not in _SHARED:
        directory = tmp_path_factory.mktemp("served") / "demo"
        config_path = build_demo(directory)
        write_yaml_schedule(config_path, SCHEDULE)
        cfg = load_config(config_path)
        start_all(
            cfg,
            config_path=config_path,
            mlflow_port=free_port(),
            prefect_port=free_port(),
            watch_interval=WATCH_INTERVAL_S,
            timeout=START_TIMEOUT_S,
        )
        _SHARED.update(project=ServedProject(directory, config_path, cfg), users=0)
    _SHARED["users"] += 1
    try:
        yield _SHARED["project"]
    finally:
        _SHARED["users"] -= 1
        if _SHARED["users"] == 0:
            project = _SHARED.pop("project")
            stop_all(project.cfg, config_path=project.config_path)


def cli(*args: str) -> Any:
    """Run a `driftline` command in-process; the environment it sets for itself is undone."""
    from typer.testing import CliRunner

    from driftline.cli.app import app

    saved = dict(os.environ)
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- REST helpers ---------------------------------------------------------------------------------


def http_json(url: str, body: Any = None, *, method: str | None = None, auth: str | None = None) -> Any:
    """One JSON request; ``auth`` (``user:secret``) is sent as HTTP basic auth."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = f"Basic {base64.b64encode(auth.encode()).decode()}"
    request = urllib.request.Request(
        url, data=data, method=method or ("POST" if data else "GET"), headers=headers
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        payload = response.read()
    return json.loads(payload) if payload else None


def deployment(api: PrefectApi, name: str) -> dict[str, Any]:
    found = api.deployment(name, name)
    assert found is not None, f"deployment {name}/{name} not registered"
    return found


def flow_runs(api: PrefectApi, deployment_id: str) -> list[dict[str, Any]]:
    body = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}, "sort": "START_TIME_DESC", "limit": 50}
    return api.call("POST", "/flow_runs/filter", body) or []  # type: ignore[no-any-return]


def wait_for_run(api: PrefectApi, run_id: str, *, timeout: float = 300.0) -> dict[str, Any]:
    """Poll a flow run until it reaches a terminal state; returns the run."""
    deadline = time.monotonic() + timeout
    while True:
        run = api.call("GET", f"/flow_runs/{run_id}")
        if run["state_type"] in TERMINAL or time.monotonic() > deadline:
            return run  # type: ignore[no-any-return]
        time.sleep(1.0)


def run_deployment(
    api: PrefectApi, name: str, parameters: dict[str, Any], *, timeout: float = 300.0
) -> dict[str, Any]:
    """Create a run of ``name`` with ``parameters`` through the REST API and wait for it."""
    dep = deployment(api, name)
    run = api.call("POST", f"/deployments/{dep['id']}/create_flow_run", {"parameters": parameters})
    return wait_for_run(api, run["id"], timeout=timeout)


def new_batch_file(project: ServedProject, name: str, *, rows: int, skip: int = 0) -> Path:
    """A batch the project has not seen: a slice of the demo's March file, in a scratch folder."""
    source = project.directory / "incoming" / "2013-03.csv"
    lines = source.read_text().splitlines(keepends=True)
    scratch = project.directory / "scratch"
    scratch.mkdir(exist_ok=True)
    path = scratch / name
    path.write_text(lines[0] + "".join(lines[1 + skip : 1 + skip + rows]))
    return path


def processes_of(prefect_home: Path) -> list[int]:
    """Pids of every process whose environment names ``prefect_home`` (servers, runner, runs)."""
    marker = f"PREFECT_HOME={prefect_home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found
