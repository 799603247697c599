"""One local Prefect API per project, shared by the commands that run flows; it stops when idle.

Without ``PREFECT_API_URL`` every Prefect process starts a temporary API server of its own, and
on this kind of machine that costs 10-20 s per command: more than the work of a 10k-row batch.
So the first command that runs a flow starts the project's API once, in the background, on a free
loopback port and on the project's own Prefect home (the database ``driftline up`` serves later,
so runs made now show in its UI). Later commands find it through ``local-api.json`` in that home
and connect in milliseconds. Flows still run on Prefect's real engine, against a real API.

The API stops itself once no command that used it is alive (each registers its pid) and no request
came for ``DRIFTLINE_LOCAL_API_IDLE_SECONDS`` (default 300). ``DRIFTLINE_LOCAL_API=0`` turns it
off: each command then starts and stops Prefect's own temporary server, as before.
``driftline up`` and ``down`` stop it: the real servers take over.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from driftline.core.preload import importing
from driftline.core.processes import (
    ManagedProcess,
    free_port,
    is_alive,
    is_healthy,
    read_pidfile,
    start_process,
    stop_process,
)

logger = logging.getLogger(__name__)

ENABLED_ENV = "DRIFTLINE_LOCAL_API"
IDLE_ENV = "DRIFTLINE_LOCAL_API_IDLE_SECONDS"
DEFAULT_IDLE_S = 300.0
STATE_FILE = "local-api.json"
CLIENTS_DIR = "local-api-clients"
_START_TIMEOUT_S = 120.0
_WATCH_INTERVAL_S = 1.0


def enabled() -> bool:
    return os.environ.get(ENABLED_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def idle_seconds() -> float:
    try:
        return max(float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_S)), 1.0)
    except ValueError:
        return DEFAULT_IDLE_S


def connect(prefect_home: Path, *, preload: Sequence[str] = ()) -> str | None:
    """Point this process at the project's local API, starting it if none answers; returns its
    API URL. Does nothing (None) when an API is already set (``driftline up``, a test harness)
    or the shared API is turned off.

    `preload`: modules to import while this waits for the API to start (see
    `driftline.core.preload`); imported before this returns, and not at all when an API answers
    at once."""
    if os.environ.get("PREFECT_API_URL") or not enabled():
        return None
    home = prefect_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    warming = importing(preload) if preload and running_api(home) is None else None
    try:
        with _locked(home):
            _register_client(home, os.getpid())  # first: a new API must not see itself unused
            running = running_api(home)
            url = running.url if running is not None else _start(home).url
    finally:
        if warming is not None:
            warming.join()
    os.environ["PREFECT_API_URL"] = f"{url}/api"
    return f"{url}/api"


def connect_soon(prefect_home: Path) -> threading.Thread:
    """`connect` in a background thread: the API starts (about 10 s) while the command does other
    work. The command's own `connect` later waits for it: a start holds the home's lock, and a
    failed background start is retried there, where its error is raised."""
    thread = threading.Thread(target=_connect_quietly, args=(prefect_home,), name="local-api", daemon=True)
    thread.start()
    return thread


def _connect_quietly(prefect_home: Path) -> None:
    try:
        connect(prefect_home)
    except Exception as err:  # the foreground connect retries and reports it
        logger.info("background start of the local Prefect API failed: %s", err)


def running_api(prefect_home: Path) -> ManagedProcess | None:
    """The project's local API if it runs and answers, else None."""
    home = prefect_home.resolve()
    if not _ours(home):
        return None
    proc = read_pidfile(home / STATE_FILE)
    if proc is None or not is_healthy(f"{proc.url}/api/health", timeout=2.0):
        return None
    return proc


def stop(prefect_home: Path) -> bool:
    """Stop the project's local API (``up``/``down``, tests); True if one was running."""
    home = prefect_home.resolve()
    if not (home / STATE_FILE).exists() or not _ours(home):
        return False
    with _locked(home):
        return stop_process(home / STATE_FILE, timeout=10.0)


def _ours(home: Path) -> bool:
    """False when the state file names the API of another project folder: the file came along when
    this project was copied. It is removed, and that other project's API is left alone."""
    state = home / STATE_FILE
    try:
        argv = json.loads(state.read_text()).get("argv") or []
    except (OSError, ValueError, AttributeError):
        return True  # missing or unreadable: read_pidfile decides
    if str(home) in argv:
        return True
    logger.info("%s names the API of another folder (a copied project): forgetting it", state)
    state.unlink(missing_ok=True)
    return False


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    """Two commands starting at once agree on one API."""
    with (home / "local-api.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start(home: Path) -> ManagedProcess:
    port = free_port()
    argv = [sys.executable, "-m", "driftline.ops.local_api", str(home), str(port), str(idle_seconds())]
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PREFECT_HOME": str(home)}
    url = f"http://127.0.0.1:{port}"
    logger.info("starting the project's local Prefect API on %s", url)
    return start_process(
        name="local-prefect-api",
        argv=argv,
        url=url,
        health_url=f"{url}/api/health",
        log_path=home / "local-api.log",
        pid_path=home / STATE_FILE,
        env=env,
        timeout=_START_TIMEOUT_S,
    )


def _register_client(home: Path, pid: int) -> None:
    clients = home / CLIENTS_DIR
    clients.mkdir(exist_ok=True)
    (clients / str(pid)).touch()


def live_clients(home: Path) -> list[int]:
    """Pids of the commands that use the API and still run (dead ones are forgotten)."""
    alive = []
    for entry in (home / CLIENTS_DIR).glob("*"):
        pid = int(entry.name) if entry.name.isdigit() else -1
        if pid > 0 and is_alive(pid):
            alive.append(pid)
        else:
            entry.unlink(missing_ok=True)
    return alive


# The server process --------------------------------------------------------------------------
class _LastRequest:
    """ASGI middleware that notes the time of the latest request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.at = time.monotonic()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            self.at = time.monotonic()
        await self.app(scope, receive, send)


def serve(home: Path, port: int, idle: float) -> None:
    """Run the API (UI and background services off, as Prefect's temporary server) until idle."""
    # Deferred: Prefect's server app is heavy: only the API process builds it.
    import uvicorn  # Prefect's own server dependency; only this process needs it
    from prefect.server.api.server import create_app

    app = _LastRequest(create_app(ephemeral=True, final=True))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    )

    def watch() -> None:
        while not server.started and not server.should_exit:  # idle time counts once it serves
            time.sleep(_WATCH_INTERVAL_S)
        app.at = time.monotonic()
        while not server.should_exit:
            time.sleep(_WATCH_INTERVAL_S)
            if time.monotonic() - app.at > idle and not live_clients(home):
                logger.info("local Prefect API idle for %.0f s with no client: stopping", idle)
                server.should_exit = True

    threading.Thread(target=watch, name="idle-watch", daemon=True).start()
    try:
        server.run()
    finally:
        _forget(home)


def _forget(home: Path) -> None:
    state = home / STATE_FILE
    try:
        if json.loads(state.read_text()).get("pid") == os.getpid():
            state.unlink()
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    from driftline.core.env import apply_process_env

    apply_process_env()
    serve(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
