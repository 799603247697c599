"""Model integrity: only the registered model.skops is ever loaded, with trusted types from code.

A tampered MLmodel (switched to cloudpickle with a payload) runs nothing; changed model bytes are
refused with one clear error, and the batch is left unfinished (kept, redone later), not scored.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from driftline.core.names import Tag
from driftline.services import promotion
from flows.batch_cycle import batch_cycle
from mlflow_server import registry as reg
from tests.flows.project import build_project, write_batch

pytestmark = pytest.mark.slow


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


@pytest.fixture(scope="module")
def project(prefect_harness, tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    return build_project(root), root


def model_dirs(ws) -> list[Path]:
    return [p.parent for p in Path(ws.config.artifact_root).rglob(reg.MODEL_FILE)]


def test_the_hash_is_recorded_at_registration_and_in_the_ledger(project):
    ws, _ = project
    champion = ws.registry.version_by_alias("champion")
    sha = champion.tags[Tag.MODEL_SHA256]
    assert len(sha) == 64 and promotion.verified_sha256(ws, champion.version) == sha
    assert any(reg._file_sha256(d / reg.MODEL_FILE) == sha for d in model_dirs(ws))


def test_a_cloudpickle_mlmodel_with_a_payload_runs_nothing(project, tmp_path):
    ws, _ = project
    marker = tmp_path / "pwned.txt"
    for folder in model_dirs(ws):
        (folder / "model.pkl").write_bytes(pickle.dumps(_Payload(marker)))
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
        mlmodel["flavors"]["sklearn"].update(serialization_format="cloudpickle", pickled_model="model.pkl")
        (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    reg._load_model.cache_clear()
    champion = ws.registry.version_by_alias("champion")
    model = promotion.load_model(ws, champion.version)
    assert hasattr(model, "predict") and not marker.exists()


def test_changed_model_bytes_are_refused_and_the_batch_is_kept_unfinished(project):
    ws, root = project
    champion = ws.registry.version_by_alias("champion")
    other = next(v for v in ws.registry.list_versions() if v.version != champion.version)
    saved = {d: (d / reg.MODEL_FILE).read_bytes() for d in model_dirs(ws)}
    donor = next(d for d in saved if reg._file_sha256(d / reg.MODEL_FILE) == other.tags[Tag.MODEL_SHA256])
    try:
        for folder in saved:  # another valid skops model in its place: a silent model swap
            (folder / reg.MODEL_FILE).write_bytes(saved[donor])
        reg._load_model.cache_clear()
        with pytest.raises(
            reg.ModelIntegrityError, match=f"model v{champion.version}: model.skops has sha256"
        ):
            promotion.load_model(ws, champion.version)
        path = write_batch(root / "after-tamper.parquet", rows=300, seed=700, start=700_000)
        with pytest.raises(reg.ModelIntegrityError):
            batch_cycle(path=str(path), config_path=str(ws.config.base_dir / "driftline.yaml"))
        (stuck,) = ws.state.unfinished_batches()
        assert stuck.source == "after-tamper.parquet" and Path(stuck.raw_path).is_file()
        assert ws.state.predictions_with_labels([stuck.batch_id]).empty
    finally:
        for folder, data in saved.items():
            (folder / reg.MODEL_FILE).write_bytes(data)
        reg._load_model.cache_clear()
    result = batch_cycle(path=str(path), config_path=str(ws.config.base_dir / "driftline.yaml"))
    assert result["status"] == "accepted" and result["seq"] == stuck.seq


def test_a_registry_tag_that_disagrees_with_the_ledger_is_refused(project):
    ws, _ = project
    champion = ws.registry.version_by_alias("champion")
    sha = champion.tags[Tag.MODEL_SHA256]
    ws.registry.set_version_tags(champion.version, {Tag.MODEL_SHA256: "0" * 64})
    try:
        reg._load_model.cache_clear()
        with pytest.raises(reg.ModelIntegrityError, match="differs from the promotion ledger"):
            promotion.load_model(ws, champion.version)
    finally:
        ws.registry.set_version_tags(champion.version, {Tag.MODEL_SHA256: sha})


def test_concurrent_promotions_of_one_version_make_one_move_and_one_ledger_entry(project):
    import threading

    from driftline.services.workspace import Workspace

    ws, _ = project
    champion = ws.registry.version_by_alias("champion")
    target = next(v.version for v in ws.registry.list_versions() if v.version != champion.version)
    before = len(ws.state.read_ledger())
    outcomes: list[str] = []

    def promote() -> None:
        try:
            promotion.promote(
                Workspace(ws.config),
                target,
                decision={"reasons": ["race"]},
                trigger="race",
                actor="t",
                action="manual",
            )
            outcomes.append("moved")
        except promotion.PromotionError as err:
            outcomes.append(str(err))

    threads = [threading.Thread(target=promote) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["moved"] + [f"version {target} is already the champion"] * 2
    ledger = ws.state.read_ledger()
    assert len(ledger) == before + 1 and ledger[-1]["to_version"] == target
    assert ledger[-1]["model_sha256"] == ws.registry.get_version(target).tags[Tag.MODEL_SHA256]
