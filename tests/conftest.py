"""Test-suite entry point: the process environment is set before any library is imported."""

from __future__ import annotations

from driftline.env import apply_process_env

apply_process_env()

import pytest  # noqa: E402

from tests.fixtures_servers import mlflow_server_url  # noqa: E402,F401 - shared real-server fixture
from tests.servers import served_project  # noqa: E402,F401 - `driftline up` on a small demo project


@pytest.fixture(scope="session")
def prefect_harness():
    """Prefect's real engine on a temporary database, shared by the flow tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
