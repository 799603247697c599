"""The served deployments: typed, described parameters; runs with parameters through the API;
the watch flow ingests each dropped file once."""

from __future__ import annotations

import json

import pytest

from driftline.core.batch_io import batch_id_of, content_hash
from driftline.store.state import StateStore
from tests.servers import (
    SCHEDULE,
    ServedProject,
    deployment,
    new_batch_file,
    run_deployment,
)

pytestmark = [pytest.mark.server, pytest.mark.slow]

EXPECTED: dict[str, dict[str, str | None]] = {
    "batch-cycle": {"path": "string", "config_path": "string", "allow_retrain": "boolean"},
    "retrain": {"reason": "string", "config_path": "string"},
    "replay": {"path": "string", "time_column": "string", "freq": None, "policy": "string"},
    "watch": {"folder": None, "config_path": "string", "settle_seconds": "number"},
    "contract-review": {"batch_id": None, "config_path": "string", "timeout_s": "integer"},
    "review-queue": {"config_path": "string", "limit": "integer", "timeout_s": "integer"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_run_form_parameters_are_typed_and_described(served_project: ServedProject, name: str) -> None:
    dep = deployment(served_project.prefect, name)
    properties = dep["parameter_openapi_schema"]["properties"]
    for param, kind in EXPECTED[name].items():
        assert param in properties, f"{name}: parameter {param} missing from the run form"
        if kind is not None:
            assert properties[param]["type"] == kind
        assert properties[param].get("description"), f"{name}.{param} has no description"
    # The project's own config file is the default: a run from the UI needs no path typing.
    assert dep["parameters"]["config_path"] == str(served_project.config_path)
    assert dep["entrypoint"].startswith("flows.")
    assert "progress" not in properties  # replay's in-process callback is not a form field
    assert not dep["paused"]


def test_retrain_deployment_carries_the_yaml_schedule(served_project: ServedProject) -> None:
    dep = deployment(served_project.prefect, "retrain")
    crons = [(s["schedule"].get("cron"), s["schedule"].get("timezone")) for s in dep["schedules"]]
    assert crons and crons[0][1] in {SCHEDULE.timezone, "UTC"}  # schedule tests may have changed it
    watch = deployment(served_project.prefect, "watch")
    assert watch["schedules"][0]["schedule"]["interval"] == 3600.0


def test_watch_run_with_parameters_ingests_each_file_once(served_project: ServedProject) -> None:
    api = served_project.prefect
    folder = served_project.directory / "dropbox"
    folder.mkdir()
    batch = new_batch_file(served_project, "part-a.csv", rows=400)
    batch.rename(folder / batch.name)
    batch = folder / batch.name
    (folder / "notes.txt").write_text("not a batch")
    params = {"folder": str(folder), "settle_seconds": 0}

    first = run_deployment(api, "watch", params)
    assert first["state_type"] == "COMPLETED", first["state"]
    assert first["parameters"]["folder"] == str(folder)
    assert first["parameters"]["config_path"] == str(served_project.config_path)  # default merged in

    batch_id = batch_id_of(content_hash(batch))
    state = StateStore(served_project.cfg.database_url)
    recorded = state.get_batch(batch_id)
    assert recorded is not None and recorded.status == "accepted"
    ledger = json.loads((served_project.cfg.root / "watch" / "processed.json").read_text())
    assert ledger[str(batch)]["batch_id"] == batch_id
    assert ledger[str(batch)]["status"] == "accepted"
    assert "notes.txt" not in json.dumps(ledger)

    copy = folder / "part-a-again.csv"  # same bytes under another name: still one batch
    copy.write_bytes(batch.read_bytes())
    second = run_deployment(api, "watch", params)
    assert second["state_type"] == "COMPLETED", second["state"]
    ledger = json.loads((served_project.cfg.root / "watch" / "processed.json").read_text())
    assert ledger[str(batch)]["at"] == ledger[str(copy)]["at"]  # the copy was not run again
    assert sum(1 for b in state.list_batches() if b.batch_id == batch_id) == 1


def test_batch_cycle_run_with_a_path_parameter(served_project: ServedProject) -> None:
    path = new_batch_file(served_project, "part-b.csv", rows=300, skip=400)
    run = run_deployment(served_project.prefect, "batch-cycle", {"path": str(path)})
    assert run["state_type"] == "COMPLETED", run["state"]
    recorded = StateStore(served_project.cfg.database_url).get_batch(batch_id_of(content_hash(path)))
    assert recorded is not None and recorded.source == "part-b.csv"
