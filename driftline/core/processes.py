"""Managed background processes: start a server, wait until it answers, stop its whole group.

Generic on purpose (no MLflow or Prefect import): ``mlflow_server`` and the CLI build the
command line, this module owns the lifecycle. Each process runs in its own session, so
stopping it also stops whatever workers it spawned.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger(__name__)

_POLL_INTERVAL_S = 0.25
_LOG_TAIL_LINES = 20
# Children started by this interpreter, kept so they are reaped (no zombies, no ResourceWarning).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ServerStartError(RuntimeError):
    """A managed process exited or never became healthy; the message holds its log tail."""


@dataclass(frozen=True)
class ManagedProcess:
    """A background process started by :func:`start_process` (or found through its pid file)."""

    name: str
    pid: int
    url: str
    log_path: Path
    pid_path: Path | None


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def is_healthy(health_url: str, timeout: float = 2.0) -> bool:
    """Return True if ``health_url`` answers HTTP 200 (proxies are bypassed)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(health_url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException, ValueError):  # URLError is an OSError
        return False


def start_process(
    *,
    name: str,
    argv: list[str],
    url: str,
    health_url: str,
    log_path: Path,
    pid_path: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> ManagedProcess:
    """Start ``argv`` in the background and wait until ``health_url`` answers 200.

    Args:
        name: label used in logs and the pid file.
        argv: command line; the first element is the executable.
        url: public URL of the service (recorded, returned).
        health_url: URL polled until it answers 200.
        log_path: file receiving stdout and stderr (appended to).
        pid_path: optional JSON pid file, written once the process is started.
        env: full child environment; ``None`` inherits this process's environment.
        timeout: seconds to wait for health.

    Returns:
        The running process.

    Raises:
        ValueError: if ``argv`` is empty or ``timeout`` is not positive.
        ServerStartError: if the process exits early or is not healthy in time
            (the process group is killed, the message holds the last log lines).
    """
    if not argv:
        raise ValueError(f"argv for {name!r} is empty")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_path.open("ab") as log_file:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: stop_process reaches its workers too
        )
    _CHILDREN[popen.pid] = popen
    proc = ManagedProcess(name=name, pid=popen.pid, url=url, log_path=log_path, pid_path=pid_path)
    if pid_path is not None:
        _write_pidfile(proc, argv=argv)
    logger.info("started %s (pid %d), waiting for %s", name, popen.pid, health_url)

    deadline = started + timeout
    while True:
        if popen.poll() is not None:
            reason = f"exited with code {popen.returncode}"
            break
        if is_healthy(health_url):
            logger.info("%s healthy after %.1f s at %s", name, time.monotonic() - started, url)
            return proc
        if time.monotonic() >= deadline:
            reason = f"not healthy at {health_url} after {timeout:.0f} s"
            break
        time.sleep(_POLL_INTERVAL_S)

    stop_process(proc, timeout=5.0)
    raise ServerStartError(f"{name} {reason}; last log lines ({log_path}):\n{_log_tail(log_path)}")


def read_pidfile(pid_path: Path) -> ManagedProcess | None:
    """Return the process recorded in ``pid_path``, or None if it is missing or dead.

    A stale file (dead process, or pid reused by another process) is removed.
    """
    try:
        record = json.loads(pid_path.read_text())
        pid = int(record["pid"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        logger.warning("removing unreadable pid file %s", pid_path)
        pid_path.unlink(missing_ok=True)
        return None
    recorded_start = record.get("proc_start_ticks")
    if not is_alive(pid) or (
        recorded_start is not None and _proc_start_ticks(pid) not in (None, recorded_start)
    ):
        logger.info("removing stale pid file %s (pid %d not running)", pid_path, pid)
        pid_path.unlink(missing_ok=True)
        return None
    return ManagedProcess(
        name=str(record.get("name", pid_path.stem)),
        pid=pid,
        url=str(record.get("url", "")),
        log_path=Path(record.get("log_path", "")),
        pid_path=pid_path,
    )


def stop_process(proc_or_pidfile: ManagedProcess | Path, *, timeout: float = 30.0) -> bool:
    """Stop a managed process and its group: SIGTERM, then SIGKILL after ``timeout`` seconds.

    Args:
        proc_or_pidfile: the process, or the path of its pid file.
        timeout: seconds to wait after SIGTERM before SIGKILL.

    Returns:
        True if it was running, False if there was nothing to stop.
    """
    if isinstance(proc_or_pidfile, ManagedProcess):
        proc: ManagedProcess | None = proc_or_pidfile
        pid_path = proc_or_pidfile.pid_path
    else:
        pid_path = proc_or_pidfile
        proc = read_pidfile(pid_path)
    if proc is None:
        return False
    pid = proc.pid
    was_running = is_alive(pid) or _group_exists(pid)
    if was_running:
        logger.info("stopping %s (pid %d)", proc.name, pid)
        _signal_group(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            logger.warning("%s (pid %d) ignored SIGTERM for %.0f s: SIGKILL", proc.name, pid, timeout)
            _signal_group(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)
    _CHILDREN.pop(pid, None)
    if pid_path is not None:
        pid_path.unlink(missing_ok=True)
    return was_running


def _write_pidfile(proc: ManagedProcess, *, argv: list[str]) -> None:
    """Write the pid file atomically (a reader never sees half a file)."""
    assert proc.pid_path is not None
    record = {
        "name": proc.name,
        "pid": proc.pid,
        "url": proc.url,
        "argv": argv,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "log_path": str(proc.log_path),
        # Guards against pid reuse: a later process with the same pid has another start time.
        "proc_start_ticks": _proc_start_ticks(proc.pid),
    }
    proc.pid_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = proc.pid_path.with_name(proc.pid_path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, proc.pid_path)


def _proc_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), None where unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so split after its ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_alive(pid: int) -> bool:
    """True if ``pid`` runs (zombies count as dead; our own children get reaped)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _group_exists(pgid: int) -> bool:
    """True if any process of group ``pgid`` still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group, ignoring a group that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until the leader and its whole group are gone; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid) and not _group_exists(pid):
            return True
        time.sleep(0.1)
    return not is_alive(pid) and not _group_exists(pid)


def _log_tail(log_path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of ``log_path`` (empty if unreadable)."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def reap_orphan_prefect_servers(prefect_home: Path) -> list[int]:
    """Stop the ephemeral Prefect servers that a killed command (kill -9) left behind.

    An orphan is a Prefect ephemeral API process (``PREFECT__SERVER_EPHEMERAL=1``) of this
    project's Prefect home whose parent is no longer a Python process: the command that started it
    is gone, and it would otherwise run forever on a loopback port. Linux only (reads /proc).

    Returns:
        The pids that were sent SIGTERM.
    """
    home = f"PREFECT_HOME={Path(prefect_home).resolve()}".encode()
    reaped = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            if b"PREFECT__SERVER_EPHEMERAL=1" not in environ or home not in environ:
                continue
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            parent = Path(Path(f"/proc/{ppid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace"))
        except (OSError, ValueError, IndexError):
            continue
        if "python" in parent.name or parent.name == "driftline":
            continue  # its command still runs
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(entry.name), signal.SIGTERM)
            reaped.append(int(entry.name))
    return reaped
