"""The servers' credentials: generated once, owner-only, out of git, handed to clients by env."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from driftline.core.config import load_config
from driftline.ops.server_auth import AUTH_DB, credentials_path, load_or_create, mlflow_server_env, read
from driftline.ops.servers import ServerUrls, client_env, prefect_client, servers_dir


def test_credentials_are_generated_once_owner_only_and_ignored_by_git(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    path = credentials_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / ".gitignore").read_text().splitlines()[-1] == "*"
    assert len(first.mlflow_password) >= 24 and first.prefect_auth_string.startswith("driftline:")
    assert load_or_create(tmp_path) == first == read(tmp_path)  # kept, not regenerated
    other = load_or_create(tmp_path / "elsewhere")
    assert other.mlflow_password != first.mlflow_password  # random per project


def test_lost_credentials_come_back_with_a_fresh_mlflow_user_store(tmp_path: Path) -> None:
    old = load_or_create(tmp_path)
    (tmp_path / AUTH_DB).write_text("an admin whose password is in the lost file")
    credentials_path(tmp_path).unlink()
    new = load_or_create(tmp_path)
    assert new.mlflow_password != old.mlflow_password
    assert not (tmp_path / AUTH_DB).exists()


def test_a_foreign_credentials_file_is_refused_not_overwritten(tmp_path: Path) -> None:
    credentials_path(tmp_path).write_text("not json")
    with pytest.raises(ValueError, match="not a Driftline credentials file"):
        load_or_create(tmp_path)
    assert credentials_path(tmp_path).read_text() == "not json"


def test_the_mlflow_auth_config_holds_no_secret(tmp_path: Path) -> None:
    creds = load_or_create(tmp_path)
    env = mlflow_server_env(tmp_path, creds)
    ini = Path(env["MLFLOW_AUTH_CONFIG_PATH"]).read_text()
    assert creds.mlflow_password not in ini
    assert "default_permission = NO_PERMISSIONS" in ini
    assert f"sqlite:///{(tmp_path / AUTH_DB).resolve()}" in ini
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == creds.mlflow_password


def test_clients_get_the_credentials_of_what_asks_for_them(tmp_path: Path) -> None:
    (tmp_path / "driftline.yaml").write_text("project: p\ndata:\n  target: y\n")
    cfg = load_config(tmp_path / "driftline.yaml")
    creds = load_or_create(servers_dir(cfg))
    local = ServerUrls(mlflow="http://127.0.0.1:1", prefect="http://127.0.0.1:2", mlflow_auth=True)
    assert client_env(cfg, local) == creds.mlflow_env()  # loopback Prefect asks for nothing
    exposed = ServerUrls(
        mlflow="http://127.0.0.1:1", prefect="http://127.0.0.1:2", mlflow_auth=True, prefect_auth=True
    )
    assert client_env(cfg, exposed)["PREFECT_API_AUTH_STRING"] == creds.prefect_auth_string
    remote = ServerUrls(mlflow="https://mlflow.example", prefect="http://127.0.0.1:2", mlflow_managed=False)
    assert client_env(cfg, remote) == {}  # a tracking server we did not start: the user's own env
    assert prefect_client(cfg, exposed).auth_string == creds.prefect_auth_string  # Prefect's client sends it
    assert prefect_client(cfg, local).auth_string is None
