"""An unreachable tracking server is told apart from any other MLflow failure, in one line."""

from __future__ import annotations

from mlflow_server.reachability import unreachable_server

REFUSED = (
    "API request to http://127.0.0.1:5000/api/2.0/mlflow/registered-models/alias failed with exception "
    "HTTPConnectionPool(host='127.0.0.1', port=5000): Max retries exceeded with url: /api/2.0/... "
    '(Caused by NewConnectionError("... [Errno 111] Connection refused"))'
)


def test_a_refused_connection_names_the_server_and_masks_its_password():
    wrapped = RuntimeError("alias 'champion' lookup failed")
    wrapped.__cause__ = Exception(REFUSED)
    assert unreachable_server(wrapped, "http://127.0.0.1:5000") == (
        "the MLflow tracking server http://127.0.0.1:5000 does not answer (connection refused)"
    )
    told = unreachable_server(Exception(REFUSED), "https://ml:s3cret@tracking.example")
    assert told is not None and "s3cret" not in told and "***" in told


def test_other_failures_and_local_stores_are_not_an_unreachable_server():
    assert unreachable_server(Exception("RESOURCE_DOES_NOT_EXIST: no such model"), "http://h:5000") is None
    assert unreachable_server(Exception(REFUSED), "sqlite:////tmp/mlflow.db") is None
