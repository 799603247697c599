"""A real MLflow server (tracking, proxied artifacts, registry, aliases) and the process manager."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftline.core.processes import (
    ManagedProcess,
    ServerStartError,
    free_port,
    is_healthy,
    read_pidfile,
    start_process,
    stop_process,
)
from mlflow_server.server import mlflow_server_argv

# Until tests/conftest.py imports the fixture. Then delete this import and the file-level
# noqa above, or the session would start a second server (one per fixture definition).


def _unique(prefix: str) -> str:
    """Name that does not collide with other tests sharing the session server."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def tracking_uri(mlflow_server_url: str) -> Iterator[str]:
    """Point MLflow's fluent API at the test server for one test, then undo it."""
    import mlflow

    previous_env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(mlflow_server_url)
    try:
        yield mlflow_server_url
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None resets to the default
        if previous_env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = previous_env


# --- MLflow server -------------------------------------------------------------------------


def test_argv_binds_loopback_with_one_worker(tmp_path: Path) -> None:
    argv = mlflow_server_argv(
        backend_store_uri="sqlite:////x/mlflow.db", artifacts_destination=tmp_path, port=5999
    )
    assert argv[:4] == [sys.executable, "-m", "mlflow", "server"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--workers") + 1] == "1"
    assert argv[argv.index("--artifacts-destination") + 1] == str(tmp_path.resolve())


@pytest.mark.parametrize("port, workers", [(0, 1), (70000, 1), (5000, 0)])
def test_argv_rejects_bad_values(tmp_path: Path, port: int, workers: int) -> None:
    with pytest.raises(ValueError, match="port|workers"):
        mlflow_server_argv(
            backend_store_uri="sqlite:////x.db",
            artifacts_destination=tmp_path,
            port=port,
            workers=workers,
        )


@pytest.mark.server
def test_server_is_healthy_on_loopback(mlflow_server_url: str) -> None:
    assert mlflow_server_url.startswith("http://127.0.0.1:")
    assert is_healthy(f"{mlflow_server_url}/health")


@pytest.mark.server
def test_metric_and_artifact_round_trip(mlflow_server_url: str, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server_url)
    experiment_id = client.create_experiment(_unique("roundtrip"))
    run = client.create_run(experiment_id)
    run_id = run.info.run_id
    notes = tmp_path / "notes.txt"
    notes.write_text("drift checked\n")
    client.log_metric(run_id, "auc", 0.75)
    client.log_artifact(run_id, str(notes))
    client.set_terminated(run_id)

    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")  # proxied, not a local path
    assert client.get_run(run_id).data.metrics == {"auc": 0.75}
    assert [a.path for a in client.list_artifacts(run_id)] == ["notes.txt"]
    downloaded = client.download_artifacts(run_id, "notes.txt", dst_path=str(tmp_path / "dl"))
    assert Path(downloaded).read_text() == "drift checked\n"


@pytest.mark.server
def test_register_model_and_resolve_champion_alias(tracking_uri: str, tmp_path: Path) -> None:
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(features, np.array([0, 0, 1, 1]))
    name = _unique("tiny-logreg")
    client = mlflow.MlflowClient(tracking_uri)
    experiment_id = client.create_experiment(_unique("registry"))

    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.sklearn.log_model(
            model, name="model", pip_requirements=["scikit-learn"], registered_model_name=name
        )
    version = info.registered_model_version
    assert version is not None
    client.set_registered_model_alias(name, "champion", version)

    # Versions come back as str from a server (int from SQLite): compare as strings.
    assert str(client.get_model_version_by_alias(name, "champion").version) == str(version)
    download_dir = tmp_path / "model"
    download_dir.mkdir()  # load_model needs an existing dst_path (else it fills the system temp)
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion", dst_path=str(download_dir))
    assert list(loaded.predict(np.array([[0.0], [3.0]]))) == [0, 1]


# --- driftline.core.processes -------------------------------------------------------------------


def _start_http_server(tmp_path: Path) -> ManagedProcess:
    port = free_port()
    return start_process(
        name="http-test",
        argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        url=f"http://127.0.0.1:{port}",
        health_url=f"http://127.0.0.1:{port}/",
        log_path=tmp_path / "http.log",
        pid_path=tmp_path / "run" / "http.pid",
        timeout=30.0,
    )


def _assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_start_process_writes_pidfile_and_stop_removes_it(tmp_path: Path) -> None:
    proc = _start_http_server(tmp_path)
    assert proc.pid_path is not None
    try:
        assert is_healthy(f"{proc.url}/")
        record = json.loads(proc.pid_path.read_text())
        assert record["pid"] == proc.pid
        assert record["url"] == proc.url
        assert record["argv"][1:3] == ["-m", "http.server"]
        assert record["started_at"]
        assert read_pidfile(proc.pid_path) == proc
    finally:
        assert stop_process(proc) is True
    _assert_gone(proc.pid)
    assert not proc.pid_path.exists()
    assert not is_healthy(f"{proc.url}/")
    assert stop_process(proc) is False
    assert stop_process(proc.pid_path) is False


def test_stop_process_through_pidfile(tmp_path: Path) -> None:
    proc = _start_http_server(tmp_path)
    assert proc.pid_path is not None
    assert stop_process(proc.pid_path, timeout=10.0) is True
    _assert_gone(proc.pid)
    assert stop_process(proc.pid_path) is False


def test_early_exit_raises_with_log_tail(tmp_path: Path) -> None:
    script = "import sys; print('boom: config missing', flush=True); sys.exit(3)"
    with pytest.raises(ServerStartError, match=r"(?s)exited with code 3.*boom: config missing"):
        start_process(
            name="crasher",
            argv=[sys.executable, "-c", script],
            url="http://127.0.0.1:1",
            health_url=f"http://127.0.0.1:{free_port()}/",
            log_path=tmp_path / "crasher.log",
            pid_path=tmp_path / "crasher.pid",
            timeout=30.0,
        )
    assert not (tmp_path / "crasher.pid").exists()


def test_unhealthy_process_is_killed_after_timeout(tmp_path: Path) -> None:
    script = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(120)"
    log_path = tmp_path / "sleeper.log"
    with pytest.raises(ServerStartError, match=r"(?s)not healthy.*pid \d+"):
        start_process(
            name="sleeper",
            argv=[sys.executable, "-c", script],
            url="http://127.0.0.1:1",
            health_url=f"http://127.0.0.1:{free_port()}/",
            log_path=log_path,
            timeout=1.5,
        )
    _assert_gone(int(log_path.read_text().split()[1]))


def test_read_pidfile_removes_stale_file(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid_path = tmp_path / "stale.pid"
    pid_path.write_text(json.dumps({"pid": int(finished.stdout), "url": "http://127.0.0.1:1"}))
    assert read_pidfile(pid_path) is None
    assert not pid_path.exists()
    assert read_pidfile(pid_path) is None


@pytest.mark.server
def test_absent_champion_is_none_but_a_registry_gone_away_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow_server.registry import Registry, RegistryError
    from mlflow_server.server import start_mlflow_server

    server = start_mlflow_server(
        backend_store_uri=f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}",
        artifacts_destination=tmp_path / "artifacts",
        log_path=tmp_path / "mlflow-server.log",
        pid_path=tmp_path / "mlflow-server.pid",
        timeout=240.0,
    )
    try:
        registry = Registry(tracking_uri=server.url, model_name="absent", artifact_root=None)
        assert registry.version_by_alias("champion") is None  # no such model yet
        assert registry.list_versions() == []
        registry.client.create_registered_model("absent")
        assert registry.version_by_alias("champion") is None  # a model without the alias
    finally:
        stop_process(server)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(RegistryError, match=f"model registry {server.url}: alias 'champion'"):
        registry.version_by_alias("champion")  # the server is gone: not "no champion"
    with pytest.raises(RegistryError, match=server.url):
        registry.list_versions()
