"""`driftline up` / `down`: start, health, idempotence, routing, clean stop, schedule kept."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import time
import urllib.error

import pytest

from driftline.core.config import load_config
from driftline.core.processes import free_port, is_healthy, read_pidfile
from driftline.ops import local_api
from driftline.ops.schedule import RetrainSchedule, live_schedule, read_yaml_schedule
from driftline.ops.server_auth import credentials_path
from driftline.ops.servers import (
    MLFLOW,
    PREFECT,
    SERVE,
    _pick_port,
    active,
    client_env,
    is_loopback,
    pid_path,
    serve_env,
    servers_dir,
    start_all,
    stop_all,
)
from tests.servers import (
    START_TIMEOUT_S,
    WATCH_INTERVAL_S,
    ServedProject,
    cli,
    deployment,
    http_json,
    processes_of,
)

NAMES = (MLFLOW, PREFECT, SERVE)


@pytest.mark.server
@pytest.mark.slow
def test_up_starts_three_healthy_processes_on_loopback(served_project: ServedProject) -> None:
    urls = served_project.urls
    assert urls.host == "127.0.0.1"
    assert urls.mlflow.startswith("http://127.0.0.1:") and urls.prefect.startswith("http://127.0.0.1:")
    for name in NAMES:
        proc = read_pidfile(pid_path(served_project.cfg, name))
        assert proc is not None, f"{name} has no live pid file"
        argv = json.loads(pid_path(served_project.cfg, name).read_text())["argv"]
        if name != SERVE:
            assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert is_healthy(f"{urls.mlflow}/health") and is_healthy(f"{urls.prefect_api}/health")
    assert is_healthy(f"{urls.serve}/health")
    for log in ("mlflow.log", "prefect.log", "serve.log"):
        assert (servers_dir(served_project.cfg) / log).is_file()


@pytest.mark.server
@pytest.mark.slow
def test_servers_use_the_projects_own_stores(served_project: ServedProject) -> None:
    """Runs made before `up` (the demo's, through the embedded stores) are what the servers show."""
    api = served_project.prefect
    runs = api.call("POST", "/flow_runs/filter", {"limit": 200})
    assert any(r["name"] and r["state_type"] == "COMPLETED" for r in runs)
    model = served_project.mlflow_json("registered-models/get", name=served_project.cfg.model_name)
    aliases = {a["alias"] for a in model["registered_model"].get("aliases", [])}
    assert "champion" in aliases
    argv = json.loads(pid_path(served_project.cfg, MLFLOW).read_text())["argv"]
    assert argv[argv.index("--backend-store-uri") + 1] == f"sqlite:///{served_project.cfg.root / 'mlflow.db'}"
    assert argv[argv.index("--workers") + 1] == "1"


@pytest.mark.server
@pytest.mark.slow
def test_up_again_is_a_no_op_that_says_so(served_project: ServedProject) -> None:
    pids = {name: read_pidfile(pid_path(served_project.cfg, name)).pid for name in NAMES}  # type: ignore[union-attr]
    again = start_all(
        served_project.cfg, config_path=served_project.config_path, watch_interval=WATCH_INTERVAL_S
    )
    assert again.already_up and again.started == ()
    assert again.urls.mlflow == served_project.urls.mlflow
    assert {name: read_pidfile(pid_path(served_project.cfg, name)).pid for name in NAMES} == pids  # type: ignore[union-attr]
    result = cli("up", "--config", str(served_project.config_path))
    assert result.exit_code == 0, result.output
    assert "already up" in result.output
    assert served_project.urls.mlflow in result.output and served_project.urls.prefect in result.output


@pytest.mark.server
@pytest.mark.slow
def test_up_restarts_only_what_died(served_project: ServedProject) -> None:
    cfg = served_project.cfg
    runner = read_pidfile(pid_path(cfg, SERVE))
    assert runner is not None
    os.killpg(runner.pid, signal.SIGKILL)  # a crashed runner; the servers live on
    deadline = time.monotonic() + 10
    while read_pidfile(pid_path(cfg, SERVE)) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    mlflow_pid = read_pidfile(pid_path(cfg, MLFLOW)).pid  # type: ignore[union-attr]
    again = start_all(cfg, config_path=served_project.config_path, watch_interval=WATCH_INTERVAL_S)
    assert again.started == (SERVE,)
    assert read_pidfile(pid_path(cfg, MLFLOW)).pid == mlflow_pid  # type: ignore[union-attr]
    assert is_healthy(f"{again.urls.serve}/health")


@pytest.mark.server
@pytest.mark.slow
def test_cli_commands_use_the_servers_while_up(served_project: ServedProject) -> None:
    """The hooks: `open_project` points Prefect and MLflow at the servers; `load_config` honours it."""
    from driftline.cli.common import open_project

    urls = served_project.urls
    saved = dict(os.environ)
    try:
        cfg = open_project(served_project.config_path)
        assert os.environ.get("PREFECT_API_URL") == urls.prefect_api
        assert os.environ.get("DRIFTLINE_TRACKING_URI") == urls.mlflow
        assert cfg.tracking_uri == urls.mlflow
        assert os.environ.get("MLFLOW_TRACKING_USERNAME") == "admin"
        from mlflow import MlflowClient

        # signed in through the variables MLflow's own client reads
        client = MlflowClient(tracking_uri=urls.mlflow, registry_uri=urls.mlflow)  # as the Registry does
        assert client.get_registered_model(cfg.model_name).name == cfg.model_name
    finally:
        os.environ.clear()
        os.environ.update(saved)
    creds = client_env(served_project.cfg, urls)
    env = serve_env(
        served_project.cfg,
        prefect_api=urls.prefect_api,
        tracking_uri=urls.mlflow,
        runner_port=1,
        credentials=creds,
    )
    assert (env["PREFECT_API_URL"], env["DRIFTLINE_TRACKING_URI"]) == (urls.prefect_api, urls.mlflow)
    assert env["PREFECT_HOME"] == str(served_project.cfg.prefect_home)
    assert env["MLFLOW_TRACKING_PASSWORD"] == creds["MLFLOW_TRACKING_PASSWORD"]
    assert "PREFECT_API_AUTH_STRING" not in env  # loopback: the Prefect API asks for none


def _refused(url: str, body: object = None, *, method: str | None = None, auth: str | None = None) -> int:
    with pytest.raises(urllib.error.HTTPError) as refused:
        http_json(url, body, method=method, auth=auth)
    return refused.value.code


@pytest.mark.server
@pytest.mark.slow
def test_mlflow_refuses_anonymous_writes_and_the_secret_stays_out_of_git(
    served_project: ServedProject,
) -> None:
    urls, folder = served_project.urls, servers_dir(served_project.cfg)
    assert urls.mlflow_auth and not urls.prefect_auth
    api = f"{urls.mlflow}/api/2.0"
    name = served_project.cfg.model_name
    # what an attacker with local access tried: write a model artifact, create things, read
    assert (
        _refused(f"{api}/mlflow-artifacts/artifacts/1/x/artifacts/model/MLmodel", {"a": 1}, method="PUT")
        == 401
    )
    assert _refused(f"{api}/mlflow/experiments/create", {"name": "intruder"}) == 401
    assert _refused(f"{api}/mlflow/registered-models/get?name={name}") == 401
    assert _refused(f"{api}/mlflow/registered-models/get?name={name}", auth="admin:guess") == 401
    model = served_project.mlflow_json("registered-models/get", name=name)  # the admin may
    assert model["registered_model"]["name"] == name
    assert is_healthy(f"{urls.mlflow}/health")  # health stays open (up and `active` use it)

    creds = credentials_path(folder)
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert (folder / ".gitignore").read_text().splitlines()[-1] == "*"
    password = served_project.mlflow_auth.split(":", 1)[1]
    argv = json.loads(pid_path(served_project.cfg, MLFLOW).read_text())["argv"]
    assert argv[argv.index("--app-name") + 1] == "basic-auth"
    for written in [
        *folder.glob("*.log"),
        folder / "urls.json",
        folder / "mlflow-auth.ini",
        pid_path(served_project.cfg, MLFLOW),
    ]:
        assert password not in written.read_text(), f"the password leaked into {written}"
    shown = cli("up", "--config", str(served_project.config_path), "--json")
    assert shown.exit_code == 0 and password not in shown.output
    assert json.loads(shown.output)["credentials"] == str(creds)


@pytest.mark.server
@pytest.mark.slow
def test_down_stops_everything_and_up_keeps_the_ui_schedule(served_project: ServedProject) -> None:
    cfg, config = served_project.cfg, served_project.config_path
    old = served_project.urls
    api = served_project.prefect
    dep = deployment(api, "retrain")
    ui_value = RetrainSchedule("20 2 * * 3", "Asia/Kolkata")
    api.call(  # an edit made in the Prefect UI just before `down`
        "PATCH",
        f"/deployments/{dep['id']}/schedules/{dep['schedules'][0]['id']}",
        {"schedule": {"cron": ui_value.cron, "timezone": ui_value.timezone}},
    )
    assert processes_of(cfg.prefect_home)

    result = cli("down", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "stopped serve, prefect, mlflow" in result.output
    assert active(cfg) is None
    assert not any(pid_path(cfg, name).exists() for name in NAMES)
    assert not (servers_dir(cfg) / "urls.json").exists()
    assert processes_of(cfg.prefect_home) == [], "stray processes after down"
    for url in (old.mlflow, old.prefect):
        port = int(url.rsplit(":", 1)[1])
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"{url} still answers"
    assert read_yaml_schedule(config) == ui_value  # pulled in before the runner stopped
    assert "nothing was running" in cli("down", "--config", str(config)).output

    # A command run while the servers were down started the project's shared local API ...
    saved = os.environ.pop("PREFECT_API_URL", None)
    try:
        assert local_api.connect(cfg.prefect_home) is not None
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        if saved is not None:
            os.environ["PREFECT_API_URL"] = saved
    assert local_api.running_api(cfg.prefect_home) is not None

    # ... which `up` stops (the same Prefect database). Beyond loopback the Prefect API asks for
    # the auth string too, and the runner has it.
    up = start_all(
        load_config(config),
        config_path=config,
        host="0.0.0.0",
        mlflow_port=free_port(),
        prefect_port=free_port(),
        watch_interval=WATCH_INTERVAL_S,
        timeout=START_TIMEOUT_S,
    )
    assert set(up.started) == set(NAMES)
    assert local_api.running_api(cfg.prefect_home) is None
    urls = served_project.urls
    assert (urls.host, urls.prefect_auth, urls.mlflow_auth) == ("0.0.0.0", True, True)
    assert _refused(f"{urls.prefect_api}/deployments/filter", {"limit": 1}) == 401
    assert is_healthy(f"{urls.prefect_api}/health")
    api = served_project.prefect  # with the auth string
    assert live_schedule(api) == ui_value  # serve() did not overwrite it with an older value
    for name in ("batch-cycle", "retrain", "replay", "watch", "contract-review", "review-queue"):
        assert not deployment(api, name)["paused"], f"{name} left paused after restart"

    # back on loopback for the tests that share these servers
    assert set(stop_all(cfg, config_path=config)) == set(NAMES)
    start_all(
        load_config(config),
        config_path=config,
        mlflow_port=free_port(),
        prefect_port=free_port(),
        watch_interval=WATCH_INTERVAL_S,
        timeout=START_TIMEOUT_S,
    )
    assert not served_project.urls.prefect_auth


def test_port_falls_back_when_taken() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert _pick_port("127.0.0.1", taken, "test") != taken
    assert _pick_port("127.0.0.1", None, "test") > 0


def test_only_loopback_counts_as_local() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
