"""Test-suite entry point: the process environment is set before any library is imported."""

from __future__ import annotations

from driftline.env import apply_process_env

apply_process_env()

from tests.fixtures_servers import mlflow_server_url  # noqa: E402,F401 - shared real-server fixture
