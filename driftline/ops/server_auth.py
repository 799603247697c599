"""The credentials of the servers `driftline up` runs, kept out of git.

MLflow runs its basic-auth app: every request but ``/health`` and static files needs a user, so
no local process can write a model artifact anonymously (the artifact API included). Prefect
checks an auth string (``PREFECT_SERVER_API_AUTH_STRING``) when the servers bind to anything
but loopback.

The secrets are generated on the first `up` and kept in ``<root>/servers/credentials.json``
(mode 0600, beside a ``.gitignore`` that ignores the folder); the CLI and the deployments'
runner get them as the environment variables the libraries read (``MLFLOW_TRACKING_USERNAME``
/ ``MLFLOW_TRACKING_PASSWORD``, ``PREFECT_API_AUTH_STRING``). They are never printed.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

CREDENTIALS_FILE = "credentials.json"
AUTH_INI = "mlflow-auth.ini"
AUTH_DB = "mlflow-auth.db"
MLFLOW_ADMIN = "admin"
PREFECT_USER = "driftline"


@dataclass(frozen=True)
class Credentials:
    """The MLflow admin's user and password, the key MLflow signs its CSRF tokens with, and the
    Prefect auth string (``user:secret``)."""

    mlflow_username: str
    mlflow_password: str
    mlflow_secret_key: str
    prefect_auth_string: str

    def mlflow_env(self) -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_USERNAME": self.mlflow_username,
            "MLFLOW_TRACKING_PASSWORD": self.mlflow_password,
        }

    def prefect_env(self) -> dict[str, str]:
        return {"PREFECT_API_AUTH_STRING": self.prefect_auth_string}


def credentials_path(servers_dir: Path) -> Path:
    return servers_dir / CREDENTIALS_FILE


def load_or_create(servers_dir: Path) -> Credentials:
    """The project's credentials; generated (and written, owner-only) when there are none, with
    a fresh MLflow user store (the server must then be restarted: see ``servers``).

    Raises:
        ValueError: the file exists but is not ours (not JSON, or fields missing).
    """
    path = credentials_path(servers_dir)
    existing = read(servers_dir)
    if existing is not None:
        return existing
    if path.exists():
        raise ValueError(f"{path}: not a Driftline credentials file; move it away and run `driftline up`")
    creds = Credentials(
        mlflow_username=MLFLOW_ADMIN,
        mlflow_password=secrets.token_urlsafe(24),
        mlflow_secret_key=secrets.token_urlsafe(32),
        prefect_auth_string=f"{PREFECT_USER}:{secrets.token_urlsafe(24)}",
    )
    servers_dir.mkdir(parents=True, exist_ok=True)
    # A user store left from lost credentials holds an admin whose password nobody knows now.
    (servers_dir / AUTH_DB).unlink(missing_ok=True)
    ignore = servers_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# pid files, logs and the servers' credentials: never commit them\n*\n")
    tmp = path.with_name(f".{CREDENTIALS_FILE}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(asdict(creds), indent=2) + "\n")
    os.replace(tmp, path)
    return creds


def read(servers_dir: Path) -> Credentials | None:
    """The stored credentials, or None when there are none (or the file is unreadable)."""
    try:
        raw = json.loads(credentials_path(servers_dir).read_text())
        return Credentials(**{k: str(raw[k]) for k in Credentials.__dataclass_fields__})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_mlflow_auth_ini(servers_dir: Path) -> Path:
    """The basic-auth app's config: its user store beside the pid files; no password inside
    (the admin's comes from ``MLFLOW_AUTH_ADMIN_PASSWORD`` on the first start).

    ``default_permission = NO_PERMISSIONS``: a user other than the admin sees nothing until
    granted. Rewritten at every `up`, so a moved project points at its own user store.
    """
    path = servers_dir / AUTH_INI
    path.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{(servers_dir / AUTH_DB).resolve()}\n"
        f"admin_username = {MLFLOW_ADMIN}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
    )
    return path


def mlflow_server_env(servers_dir: Path, creds: Credentials) -> dict[str, str]:
    """What ``mlflow server --app-name basic-auth`` needs to find its config and first admin."""
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(write_mlflow_auth_ini(servers_dir)),
        "MLFLOW_AUTH_ADMIN_USERNAME": creds.mlflow_username,
        "MLFLOW_AUTH_ADMIN_PASSWORD": creds.mlflow_password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": creds.mlflow_secret_key,
    }
