"""Session fixtures that run real servers for the tests (as MLflow tests itself).

Wire into ``tests/conftest.py`` with ``from tests.fixtures_servers import mlflow_server_url``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from driftline.core.processes import is_healthy, read_pidfile, stop_process
from mlflow_server.server import start_mlflow_server

# A cold start on a busy 2-core machine can take well over the 10-20 s seen when idle.
_MLFLOW_START_TIMEOUT_S = 240.0


@pytest.fixture(scope="session")
def mlflow_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``mlflow server`` (SQLite + proxied artifacts in a tmp folder) and yield its URL."""
    root = tmp_path_factory.mktemp("mlflow_server")
    pid_path = root / "mlflow-server.pid"
    server = start_mlflow_server(
        backend_store_uri=f"sqlite:///{(root / 'mlflow.db').resolve()}",
        artifacts_destination=root / "artifacts",
        log_path=root / "mlflow-server.log",
        pid_path=pid_path,
        timeout=_MLFLOW_START_TIMEOUT_S,
    )
    try:
        yield server.url
    finally:
        assert stop_process(server), "mlflow server had died before teardown"
        assert not is_healthy(f"{server.url}/health")
        assert read_pidfile(pid_path) is None
        with pytest.raises(ProcessLookupError):
            os.killpg(server.pid, 0)  # no worker of the server's group survives
