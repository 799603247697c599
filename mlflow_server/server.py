"""Run a local MLflow tracking + registry server as a managed background process.

The server stores runs and the registry in ``backend_store_uri`` (e.g. SQLite) and proxies
artifacts over HTTP from ``artifacts_destination``, so clients never need the folder itself.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from driftline.core.env import PROCESS_ENV
from driftline.core.processes import ManagedProcess, free_port, start_process

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
# One worker: ~0.75 GB and 10-20 s to start; the default four cost ~1.6 GB on a 2-core machine.
DEFAULT_WORKERS = 1
_WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


def mlflow_server_argv(
    *,
    backend_store_uri: str,
    artifacts_destination: Path,
    host: str = DEFAULT_HOST,
    port: int,
    workers: int = DEFAULT_WORKERS,
    basic_auth: bool = False,
) -> list[str]:
    """Build the ``mlflow server`` command line (run with this interpreter).

    Args:
        backend_store_uri: run and registry store, e.g. ``sqlite:////abs/mlflow.db``.
        artifacts_destination: folder the server proxies artifacts from and to.
        host: interface to bind; loopback by default.
        port: TCP port.
        workers: uvicorn worker processes.
        basic_auth: run MLflow's basic-auth app (users and permissions; needs
            ``MLFLOW_AUTH_CONFIG_PATH`` and, on the first start, ``MLFLOW_AUTH_ADMIN_PASSWORD``).

    Returns:
        The argument vector.

    Raises:
        ValueError: on an empty store URI, a port outside 1-65535 or fewer than one worker.
    """
    if not backend_store_uri:
        raise ValueError("backend_store_uri is empty")
    if not 0 < port < 65536:
        raise ValueError(f"port must be in 1-65535, got {port!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        str(artifacts_destination.resolve()),
        "--serve-artifacts",  # the default in 3.17, stated so clients get mlflow-artifacts:/ URIs
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        *(["--app-name", "basic-auth"] if basic_auth else []),
    ]


def start_mlflow_server(
    *,
    backend_store_uri: str,
    artifacts_destination: Path,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    log_path: Path,
    pid_path: Path | None = None,
    workers: int = DEFAULT_WORKERS,
    job_execution: bool = False,
    auth_env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> ManagedProcess:
    """Start ``mlflow server`` in the background and wait until ``/health`` answers.

    Args:
        backend_store_uri: run and registry store, e.g. ``sqlite:////abs/mlflow.db``.
        artifacts_destination: artifact folder (created if missing).
        host: interface to bind; loopback by default.
        port: TCP port; a free one is picked when None.
        log_path: server log file.
        pid_path: optional pid file, for ``stop_process(pid_path)`` from another process.
        workers: uvicorn worker processes.
        job_execution: run MLflow's GenAI job runner (8 extra processes, ~0.6 GB, and a
            temp folder left in /dev/shm per start); Driftline does not use it.
        auth_env: the basic-auth app's environment (``driftline.ops.server_auth.mlflow_server_env``);
            None runs the server without authentication (the tests' registry servers).
        timeout: seconds to wait for health.

    Returns:
        The running server; its ``url`` is the tracking URI.

    Raises:
        ServerStartError: if the server exits or is not healthy in time.
    """
    port = free_port(host if host not in _WILDCARD_HOSTS else DEFAULT_HOST) if port is None else port
    argv = mlflow_server_argv(
        backend_store_uri=backend_store_uri,
        artifacts_destination=artifacts_destination,
        host=host,
        port=port,
        workers=workers,
        basic_auth=auth_env is not None,
    )
    artifacts_destination.mkdir(parents=True, exist_ok=True)
    # Probe through loopback when bound to every interface: the host-header check allows it.
    probe_host = DEFAULT_HOST if host in _WILDCARD_HOSTS else host
    url = f"http://{_url_host(probe_host)}:{port}"
    return start_process(
        name="mlflow-server",
        argv=argv,
        url=url,
        health_url=f"{url}/health",
        log_path=log_path,
        pid_path=pid_path,
        env={
            **os.environ,
            **PROCESS_ENV,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true" if job_execution else "false",
            **(auth_env or {}),
        },
        timeout=timeout,
    )


def _url_host(host: str) -> str:
    """Bracket IPv6 literals for use in a URL."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
