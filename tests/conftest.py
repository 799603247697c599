"""Test-suite entry point: the process environment is set before any library is imported."""

from __future__ import annotations

from driftline.env import apply_process_env

apply_process_env()

import pytest  # noqa: E402

from tests.fixtures_servers import mlflow_server_url  # noqa: E402,F401 - shared real-server fixture
from tests.servers import served_project  # noqa: E402,F401 - `driftline up` on a small demo project

FULL_TIER_MARKERS = ("slow", "server", "browser", "static")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--tier",
        choices=("fast", "full"),
        default="fast",
        help="fast (default): unit and service tests, well under 90 s; "
        f"full: also the tiers marked {', '.join(FULL_TIER_MARKERS)} (what CI runs).",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fast tier deselects every test carrying a full-tier marker; `--tier full` keeps all."""
    if config.getoption("--tier") == "full":
        return
    keep, drop = [], []
    for item in items:
        (drop if any(item.get_closest_marker(m) for m in FULL_TIER_MARKERS) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def prefect_harness():
    """Prefect's real engine on a temporary database, shared by the flow tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
