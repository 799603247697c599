"""`driftline up` / `down`: the project's MLflow server, Prefect server and deployment runner.

Three managed processes (see ``driftline.core.processes``), each with a pid file and a log under
``<root>/servers/``, plus ``urls.json`` naming where they answer:

- ``mlflow``: ``mlflow server`` on the project's own store (the SQLite file the CLI uses when
  the servers are down) with proxied artifacts and one worker;
- ``prefect``: ``prefect server start`` on the project's Prefect home, so runs made before
  ``up`` are visible;
- ``serve``: ``python -m flows.deployments``, serving the deployments, with ``PREFECT_API_URL``
  and ``DRIFTLINE_TRACKING_URI`` pointing at the two servers so its runs go through them.

Everything binds to 127.0.0.1 unless the caller passes another host explicitly. MLflow always
runs its basic-auth app; Prefect checks an auth string when bound to anything but loopback
(``driftline.ops.server_auth``). Prefect and MLflow are never imported here: this module is also
what every CLI command asks, cheaply, whether the servers are up (:func:`active`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from driftline.core.config import CONFIG_FILE, DriftlineConfig
from driftline.core.env import PROCESS_ENV
from driftline.core.processes import (
    ManagedProcess,
    free_port,
    is_healthy,
    read_pidfile,
    start_process,
    stop_process,
)
from driftline.core.progress import report
from driftline.ops import local_api
from driftline.ops.schedule import PrefectApi, Reconciliation, ScheduleError, sync_schedule
from driftline.ops.server_auth import Credentials, load_or_create, mlflow_server_env
from driftline.ops.server_auth import read as read_credentials
from mlflow_server.server import start_mlflow_server

logger = logging.getLogger(__name__)

MLFLOW, PREFECT, SERVE = "mlflow", "prefect", "serve"
DEPLOYMENTS = (
    "batch-cycle/batch-cycle",
    "retrain/retrain",
    "replay/replay",
    "watch/watch",
    "contract-review/contract-review",
    "review-queue/review-queue",
)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD = frozenset({"0.0.0.0", "::", ""})
DEFAULT_HOST = "127.0.0.1"
DEFAULT_MLFLOW_PORT, DEFAULT_PREFECT_PORT = 5000, 4200
DEFAULT_WATCH_INTERVAL_S = 60.0
# Cold starts on a busy 2-core machine: MLflow 10-40 s, Prefect 5-30 s, the runner 10-30 s.
DEFAULT_TIMEOUT_S = 240.0
_ACTIVE_HEALTH_TIMEOUT_S = 1.0
_DEPLOYMENTS_WAIT_S = 60.0


@dataclass(frozen=True)
class ServerUrls:
    """Where the servers answer."""

    mlflow: str
    prefect: str
    serve: str = ""
    host: str = DEFAULT_HOST
    mlflow_managed: bool = True
    mlflow_auth: bool = False
    prefect_auth: bool = False

    @property
    def prefect_api(self) -> str:
        return f"{self.prefect}/api"


def client_env(cfg: DriftlineConfig, urls: ServerUrls) -> dict[str, str]:
    """The credentials a client of the running servers sends, as the libraries' variables."""
    creds = read_credentials(servers_dir(cfg))
    if creds is None:
        return {}
    return {
        **(creds.mlflow_env() if urls.mlflow_managed and urls.mlflow_auth else {}),
        **(creds.prefect_env() if urls.prefect_auth else {}),
    }


def prefect_client(cfg: DriftlineConfig, urls: ServerUrls) -> PrefectApi:
    """Prefect's client for the running Prefect server, with its auth string when it has one."""
    creds = read_credentials(servers_dir(cfg)) if urls.prefect_auth else None
    return PrefectApi(urls.prefect_api, auth_string=creds.prefect_auth_string if creds else None)


@dataclass(frozen=True)
class UpResult:
    """What `up` did: the URLs, the processes it started now, and the schedule it settled on."""

    urls: ServerUrls
    started: tuple[str, ...]
    seconds: float
    watch_folder: Path
    schedule: Reconciliation | None = None
    resumed: tuple[str, ...] = ()
    skipped_deployments: tuple[str, ...] = field(default_factory=tuple)

    @property
    def already_up(self) -> bool:
        return not self.started


def servers_dir(cfg: DriftlineConfig) -> Path:
    """``<storage root>/servers``: pid files, logs, urls.json, the agreed schedule."""
    return cfg.root / "servers"


def pid_path(cfg: DriftlineConfig, name: str) -> Path:
    return servers_dir(cfg) / f"{name}.pid"


def log_path(cfg: DriftlineConfig, name: str) -> Path:
    return servers_dir(cfg) / f"{name}.log"


def active(cfg: DriftlineConfig) -> ServerUrls | None:
    """The servers' URLs if `up` started them and they answer now, else None.

    Cheap enough for every CLI command: reads the pid files and makes one health request per
    server with a 1 s timeout.
    """
    urls = read_urls(cfg)
    if urls is None:
        return None
    names = (MLFLOW, PREFECT) if urls.mlflow_managed else (PREFECT,)
    if any(read_pidfile(pid_path(cfg, name)) is None for name in names):
        return None
    health = [f"{urls.prefect_api}/health", f"{urls.mlflow}/health"]
    if not all(is_healthy(url, timeout=_ACTIVE_HEALTH_TIMEOUT_S) for url in health):
        return None
    return urls


def read_urls(cfg: DriftlineConfig) -> ServerUrls | None:
    try:
        raw = json.loads((servers_dir(cfg) / "urls.json").read_text())
        return ServerUrls(**{k: raw[k] for k in ServerUrls.__dataclass_fields__ if k in raw})
    except (FileNotFoundError, ValueError, TypeError, KeyError):
        return None


def _write_urls(cfg: DriftlineConfig, urls: ServerUrls) -> None:
    path = servers_dir(cfg) / "urls.json"
    record = {
        **asdict(urls),
        "prefect_api": urls.prefect_api,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = path.with_name("urls.json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)


def store_uri(cfg: DriftlineConfig, config_path: Path) -> str:
    """The tracking store named in the config file itself (never the env override the CLI sets
    while the servers run, which points at the server, not at its store)."""

    raw = yaml.safe_load(config_path.read_text()) or {}
    configured = (raw.get("storage") or {}).get("tracking_uri")
    return str(configured) if configured else f"sqlite:///{cfg.root / 'mlflow.db'}"


def start_all(
    cfg: DriftlineConfig,
    *,
    config_path: Path | None = None,
    host: str = DEFAULT_HOST,
    mlflow_port: int | None = DEFAULT_MLFLOW_PORT,
    prefect_port: int | None = DEFAULT_PREFECT_PORT,
    watch_interval: float = DEFAULT_WATCH_INTERVAL_S,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> UpResult:
    """Start whatever of the three processes is not running and healthy; idempotent.

    Args:
        cfg: the project's config.
        config_path: its driftline.yaml (default: ``<config folder>/driftline.yaml``).
        host: interface to bind. Anything but loopback exposes the servers (no auth): the CLI
            asks for an explicit flag and warns.
        mlflow_port / prefect_port: preferred ports; a free port is used when one is taken
            (or when None).
        watch_interval: seconds between two scans of the watch deployment.
        timeout: seconds each process gets to answer its health check.

    Returns:
        The URLs and what was started; ``already_up`` when nothing had to be.

    Raises:
        ServerStartError: a process did not become healthy (what this call started is stopped;
            the message holds the log tail).
        ValueError: bad arguments or a missing config file.
    """
    started_at = time.monotonic()
    config_path = (Path(config_path) if config_path else cfg.base_dir / CONFIG_FILE).resolve()
    if not config_path.is_file():
        raise ValueError(f"{config_path}: no such config file")
    if watch_interval <= 0:
        raise ValueError(f"watch_interval must be positive, got {watch_interval!r}")

    with _locked(servers_dir(cfg) / "up.lock"):
        return _start_locked(
            cfg,
            config_path=config_path,
            host=host,
            ports={MLFLOW: mlflow_port, PREFECT: prefect_port},
            watch_interval=watch_interval,
            timeout=timeout,
            started_at=started_at,
        )


def _start_locked(
    cfg: DriftlineConfig,
    *,
    config_path: Path,
    host: str,
    ports: dict[str, int | None],
    watch_interval: float,
    timeout: float,
    started_at: float,
) -> UpResult:
    previous = read_urls(cfg)
    running = {name: read_pidfile(pid_path(cfg, name)) for name in (MLFLOW, PREFECT, SERVE)}
    store = store_uri(cfg, config_path)
    mlflow_managed = not store.startswith(("http://", "https://"))
    new_credentials = read_credentials(servers_dir(cfg)) is None
    creds = load_or_create(servers_dir(cfg))

    def healthy(name: str, url: str | None) -> bool:
        return running[name] is not None and bool(url) and is_healthy(f"{url}/health")

    reuse_mlflow = (not mlflow_managed) or (
        previous is not None and healthy(MLFLOW, previous.mlflow) and not new_credentials
    )
    reuse_prefect = previous is not None and healthy(PREFECT, previous.prefect + "/api")
    started: list[ManagedProcess] = []
    try:
        jobs: dict[str, Callable[[], ManagedProcess]] = {}
        if not reuse_mlflow:
            _stop_name(cfg, MLFLOW)  # a process without a healthy server behind it
            jobs[MLFLOW] = lambda: _start_mlflow(
                cfg, store=store, host=host, port=ports[MLFLOW], creds=creds, timeout=timeout
            )
        if not reuse_prefect:
            _stop_name(cfg, PREFECT)
            # The shared local API serves the same Prefect database: the real server takes over.
            local_api.stop(cfg.prefect_home)
            jobs[PREFECT] = lambda: _start_prefect(
                cfg, host=host, port=ports[PREFECT], creds=creds, timeout=timeout
            )
        report(f"starting {' and '.join(jobs) or 'nothing: the servers run'}")
        fresh = _run_parallel(jobs, started)
        mlflow_url = _url_of(MLFLOW, fresh, previous) if mlflow_managed else store
        prefect_url = _url_of(PREFECT, fresh, previous)
        bound = previous.host if previous is not None and not fresh else host  # reused servers keep theirs
        urls = ServerUrls(
            mlflow=mlflow_url,
            prefect=prefect_url,
            host=bound,
            mlflow_managed=mlflow_managed,
            mlflow_auth=mlflow_managed,
            prefect_auth=_prefect_auth(PREFECT in fresh, host, previous),
        )
        api = prefect_client(cfg, urls)

        serve_url = previous.serve if previous is not None else ""
        reuse_serve = not fresh and healthy(SERVE, serve_url)
        schedule = None
        if not reuse_serve:
            _stop_name(cfg, SERVE)  # the servers moved: a runner pointing at the old ones is useless
            # Pull a schedule edited in the UI into yaml *before* serve() applies yaml's value.
            schedule = _sync(config_path, cfg, api)
            report("serving the deployments")
            proc = _start_serve(
                cfg,
                config_path=config_path,
                prefect_api=api.api_url,
                tracking_uri=mlflow_url,
                credentials=client_env(cfg, urls),
                watch_interval=watch_interval,
                timeout=timeout,
            )
            started.append(proc)
            serve_url = proc.url
        report("waiting for the deployments to register")
        skipped = _wait_for_deployments(api, timeout=_DEPLOYMENTS_WAIT_S)
        schedule = _sync(config_path, cfg, api) or schedule
        resumed = _resume_paused(api)
    except BaseException:
        for proc in reversed(started):
            stop_process(proc, timeout=15.0)
        raise
    urls = replace(urls, serve=serve_url)
    _write_urls(cfg, urls)
    return UpResult(
        urls=urls,
        started=tuple(p.name for p in started),
        seconds=time.monotonic() - started_at,
        watch_folder=watch_folder(cfg),
        schedule=schedule,
        resumed=resumed,
        skipped_deployments=skipped,
    )


def stop_all(cfg: DriftlineConfig, *, config_path: Path | None = None) -> list[str]:
    """Stop the processes `up` started (pid files), runner first; returns the names stopped.

    Before stopping, a retrain schedule edited in the Prefect UI is written into driftline.yaml,
    so the next `up` starts from it.
    """
    config_path = (Path(config_path) if config_path else cfg.base_dir / CONFIG_FILE).resolve()
    with _locked(servers_dir(cfg) / "up.lock"):
        urls = read_urls(cfg)
        if (
            urls is not None
            and config_path.is_file()
            and read_pidfile(pid_path(cfg, PREFECT)) is not None
            and is_healthy(f"{urls.prefect_api}/health", timeout=2.0)
        ):
            _sync(config_path, cfg, prefect_client(cfg, urls))
        stopped = [name for name in (SERVE, PREFECT, MLFLOW) if _stop_name(cfg, name)]
        if local_api.stop(cfg.prefect_home):
            stopped.append("local-api")
        (servers_dir(cfg) / "urls.json").unlink(missing_ok=True)
    return stopped


def watch_folder(cfg: DriftlineConfig) -> Path:
    """The folder the `watch` deployment scans: ``<storage root>/watch/incoming``.

    Not ``<root>/incoming``: `init` and `replay` stage their own files there.
    """
    return cfg.root / "watch" / "incoming"


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


# --- the three processes ---------------------------------------------------------------------------


def _base_env(cfg: DriftlineConfig) -> dict[str, str]:
    env = {**os.environ, **PROCESS_ENV, "PREFECT_HOME": str(cfg.prefect_home)}
    for key in ("PREFECT_API_URL", "DRIFTLINE_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        env.pop(key, None)  # a server must not be pointed at another server
    return env


def _prefect_auth(fresh: bool, host: str, previous: ServerUrls | None) -> bool:
    """A Prefect server started now checks the auth string when it binds beyond loopback; a
    reused one keeps what it was started with."""
    if fresh or previous is None:
        return not is_loopback(host)
    return previous.prefect_auth


def _start_mlflow(
    cfg: DriftlineConfig, *, store: str, host: str, port: int | None, creds: Credentials, timeout: float
) -> ManagedProcess:

    proc = start_mlflow_server(
        backend_store_uri=store,
        artifacts_destination=cfg.artifact_root,
        host=host,
        port=_pick_port(host, port, MLFLOW),
        log_path=log_path(cfg, MLFLOW),
        pid_path=pid_path(cfg, MLFLOW),
        auth_env=mlflow_server_env(servers_dir(cfg), creds),
        timeout=timeout,
    )
    return replace(proc, name=MLFLOW)


def _start_prefect(
    cfg: DriftlineConfig, *, host: str, port: int | None, creds: Credentials, timeout: float
) -> ManagedProcess:
    port = _pick_port(host, port, PREFECT)
    cfg.prefect_home.mkdir(parents=True, exist_ok=True)
    url = f"http://{_url_host(_probe_host(host))}:{port}"
    return start_process(
        name=PREFECT,
        argv=[sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        url=url,
        health_url=f"{url}/api/health",
        log_path=log_path(cfg, PREFECT),
        pid_path=pid_path(cfg, PREFECT),
        env={
            **_base_env(cfg),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # The UI asks the browser to call this URL; left alone it names port 4200 whatever
            # --port says. Behind another address, export PREFECT_UI_API_URL before `up`.
            "PREFECT_UI_API_URL": os.environ.get("PREFECT_UI_API_URL") or f"{url}/api",
            # Beyond loopback every API call needs the auth string (the UI asks for it once).
            **({} if is_loopback(host) else {"PREFECT_SERVER_API_AUTH_STRING": creds.prefect_auth_string}),
        },
        timeout=timeout,
    )


def serve_env(
    cfg: DriftlineConfig,
    *,
    prefect_api: str,
    tracking_uri: str,
    runner_port: int,
    credentials: dict[str, str] | None = None,
) -> dict[str, str]:
    """The runner's environment: its runs (spawned processes inherit it) use the servers, with
    their credentials (``client_env``)."""
    return {
        **_base_env(cfg),
        **(credentials or {}),
        "PREFECT_API_URL": prefect_api,
        "DRIFTLINE_TRACKING_URI": tracking_uri,
        # The runner's own webserver gives `up` and `active` a health check for it.
        "PREFECT_RUNNER_SERVER_ENABLE": "true",
        "PREFECT_RUNNER_SERVER_HOST": DEFAULT_HOST,
        "PREFECT_RUNNER_SERVER_PORT": str(runner_port),
        # A run started from the UI waits for the runner's next poll: poll every 5 s, not 10,
        # and call the runner unhealthy only after 30 s without a poll (a busy 2-core machine).
        "PREFECT_RUNNER_POLL_FREQUENCY": "5",
        "PREFECT_RUNNER_SERVER_MISSED_POLLS_TOLERANCE": "6",
    }


def _start_serve(
    cfg: DriftlineConfig,
    *,
    config_path: Path,
    prefect_api: str,
    tracking_uri: str,
    credentials: dict[str, str],
    watch_interval: float,
    timeout: float,
) -> ManagedProcess:
    port = free_port(DEFAULT_HOST)
    url = f"http://{DEFAULT_HOST}:{port}"
    return start_process(
        name=SERVE,
        argv=[
            sys.executable,
            "-m",
            "flows.deployments",
            "--config",
            str(config_path),
            "--watch-interval",
            str(watch_interval),
        ],
        url=url,
        health_url=f"{url}/health",
        log_path=log_path(cfg, SERVE),
        pid_path=pid_path(cfg, SERVE),
        env=serve_env(
            cfg, prefect_api=prefect_api, tracking_uri=tracking_uri, runner_port=port, credentials=credentials
        ),
        timeout=timeout,
    )


def _url_of(name: str, fresh: dict[str, ManagedProcess], previous: ServerUrls | None) -> str:
    if name in fresh:
        return fresh[name].url
    assert previous is not None  # reused only when urls.json named it
    return previous.mlflow if name == MLFLOW else previous.prefect


def _stop_name(cfg: DriftlineConfig, name: str) -> bool:
    return stop_process(pid_path(cfg, name), timeout=30.0)


def _run_parallel(
    jobs: dict[str, Callable[[], ManagedProcess]], started: list[ManagedProcess]
) -> dict[str, ManagedProcess]:
    """Start the servers side by side (each waits for its own health); first error wins."""
    if not jobs:
        return {}
    results: dict[str, ManagedProcess] = {}
    errors: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        for name, future in futures.items():
            try:
                results[name] = future.result()
                started.append(results[name])
            except BaseException as err:  # keep collecting: the others must be stopped too
                errors.append(err)
    if errors:
        raise errors[0]
    return results


def _pick_port(host: str, preferred: int | None, name: str) -> int:
    probe = _probe_host(host)
    if preferred and _port_free(host, preferred):
        return preferred
    port = free_port(probe if host in WILDCARD else host)
    if preferred:
        logger.warning("%s: port %d is taken, using %d", name, preferred, port)
    return port


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the servers do: a port a stopped server left in TIME_WAIT is free to use.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    # Also refuse a port some other process serves on loopback when we bind a wildcard.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((DEFAULT_HOST, port)) != 0


def _probe_host(host: str) -> str:
    return DEFAULT_HOST if host in WILDCARD else host


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# --- Prefect side ------------------------------------------------------------------------------------


def _sync(config_path: Path, cfg: DriftlineConfig, api: PrefectApi) -> Reconciliation | None:
    try:
        return sync_schedule(config_path=config_path, servers_dir=servers_dir(cfg), api=api)
    except ScheduleError as err:
        logger.warning("retrain schedule not synchronised: %s", err)
        return None


def _wait_for_deployments(api: PrefectApi, *, timeout: float) -> tuple[str, ...]:
    """Wait until the runner has registered its deployments; returns the expected ones missing."""
    deadline = time.monotonic() + timeout
    missing: set[str] = set(DEPLOYMENTS)
    while time.monotonic() < deadline:
        try:
            names = {_full_name(d) for d in api.deployments()}
        except ScheduleError:
            names = set()
        missing = set(DEPLOYMENTS) - names
        if not missing or (missing == {"replay/replay"} and "watch/watch" in names):
            break
        time.sleep(0.5)
    return tuple(sorted(missing))


def _resume_paused(api: PrefectApi) -> tuple[str, ...]:
    """Resume our deployments if something paused them (Prefect pauses served deployments when
    their runner stops unless told otherwise; a paused deployment's schedule creates no runs)."""
    resumed = []
    for deployment in api.deployments():
        name = _full_name(deployment)
        if name in DEPLOYMENTS and deployment.get("paused"):
            api.resume(deployment["id"])
            resumed.append(name)
    return tuple(resumed)


def _full_name(deployment: dict[str, Any]) -> str:
    # Deployments list the flow by id only; our deployment names equal their flow names.
    return f"{deployment['name']}/{deployment['name']}"


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """One `up` or `down` at a time per project."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
