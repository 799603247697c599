"""The only MLflow adapter: tracking runs, the monitoring run, the model registry and aliases.

MLflow objects never leave this module; callers get our own small values.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from driftline.core.names import Tag

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

MONITORING_RUN = "monitoring"
REFERENCE_ARTIFACT = "reference/reference.parquet"
MODEL_FILE = "model.skops"


class RegistryError(RuntimeError):
    """An MLflow operation failed; the message says which one."""


class ModelIntegrityError(RegistryError):
    """A model artifact is not the one registered (changed bytes, another format): never loaded."""


def _not_found(err: Exception) -> bool:
    """MLflow's answer for a model or alias that does not exist (any store, REST included)."""
    code = getattr(err, "error_code", None)
    return code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") and "not found" in str(err)


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version."""

    version: str
    run_id: str
    aliases: tuple[str, ...]
    tags: dict[str, str]
    created: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "run_id": self.run_id,
            "aliases": list(self.aliases),
            "tags": dict(self.tags),
            "created": self.created,
        }


class Registry:
    """Tracking and registry for one Driftline project (one experiment, one registered model)."""

    def __init__(self, *, tracking_uri: str, model_name: str, artifact_root: Path | None) -> None:
        # Deferred: MLflow loads only when the registry is used, not for every command.
        import mlflow
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.model_name = model_name
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.experiment_id = self._ensure_experiment(artifact_root)

    @property
    def is_remote(self) -> bool:
        return self.tracking_uri.startswith(("http://", "https://"))

    def _ensure_experiment(self, artifact_root: Path | None) -> str:
        found = self.client.get_experiment_by_name(self.model_name)
        if found is not None:
            self._experiment_tags = dict(found.tags or {})
            return str(found.experiment_id)
        self._experiment_tags = {}
        location = None
        if artifact_root is not None and not self.is_remote:
            artifact_root.mkdir(parents=True, exist_ok=True)
            location = artifact_root.resolve().as_uri()
        return str(self.client.create_experiment(self.model_name, artifact_location=location))

    def experiment_tag(self, key: str) -> str | None:
        return self._experiment_tags.get(key)

    def set_experiment_tag(self, key: str, value: str) -> None:
        self.client.set_experiment_tag(self.experiment_id, key, value)
        self._experiment_tags[key] = value

    # Runs ------------------------------------------------------------------------------------
    def start_run(self, *, name: str, tags: Mapping[str, str] | None = None) -> str:
        run = self.client.create_run(self.experiment_id, run_name=name, tags=dict(tags or {}))
        return str(run.info.run_id)

    def end_run(self, run_id: str, *, failed: bool = False) -> None:
        self.client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        # Deferred: MLflow loads only when the registry is used, not for every command.
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        self.client.log_batch(run_id, params=items)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float | None], *, step: int = 0) -> None:
        import time

        # Deferred: MLflow loads only when the registry is used, not for every command.
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(_metric_key(k), float(v), now, step)
            for k, v in metrics.items()
            if v is not None and v == v  # drop None and NaN
        ]
        for start in range(0, len(items), 900):
            self.client.log_batch(run_id, metrics=items[start : start + 900])

    def set_run_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        # Deferred: MLflow loads only when the registry is used, not for every command.
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def log_artifact(self, run_id: str, path: Path, *, folder: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path=folder)

    def log_json(self, run_id: str, obj: Any, *, name: str) -> None:
        self.client.log_text(run_id, json.dumps(obj, indent=2, allow_nan=False, default=str), name)

    def read_csv_artifact(self, run_id: str, path: str) -> pd.DataFrame | None:
        """A CSV artifact of a run as a frame, or None when the run has no such artifact."""
        # Deferred: MLflow loads only when the registry is used, not for every command.
        import mlflow

        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=path, dst_path=tmp, tracking_uri=self.tracking_uri
                )
            except Exception:  # missing artifact (e.g. SHAP failed and was skipped)
                return None
            return pd.read_csv(local)

    def read_json_artifact(self, run_id: str, path: str) -> Any | None:
        """A JSON artifact of a run, or None when the run has no such artifact."""
        # Deferred: MLflow loads only when the registry is used, not for every command.
        import mlflow

        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=path, dst_path=tmp, tracking_uri=self.tracking_uri
                )
            except Exception:  # missing artifact (a version trained before it existed)
                return None
            return json.loads(Path(local).read_text())

    def list_artifacts(self, run_id: str, folder: str | None = None) -> list[str]:
        """All artifact paths of a run (recursive)."""
        out: list[str] = []
        for item in self.client.list_artifacts(run_id, folder):
            if item.is_dir:
                out.extend(self.list_artifacts(run_id, item.path))
            else:
                out.append(item.path)
        return out

    def model_files(self, version: str) -> list[str]:
        """Top-level files of a registered version's model artifact (MLmodel, model.skops, ...)."""
        # Deferred: MLflow loads only when the registry is used, not for every command.
        import mlflow

        mv = self.client.get_model_version(self.model_name, str(version))
        try:
            found = mlflow.artifacts.list_artifacts(artifact_uri=mv.source, tracking_uri=self.tracking_uri)
        except Exception:  # an unreadable model counts as missing
            return []
        return [Path(item.path).name for item in found]

    def monitoring_run(self) -> str:
        """The long-lived run that holds one metric step per batch (created on first use)."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`driftline.kind` = '{MONITORING_RUN}'",
            max_results=1,
        )
        if runs:
            return str(runs[0].info.run_id)
        return self.start_run(name=MONITORING_RUN, tags={Tag.KIND: MONITORING_RUN})

    # Models ----------------------------------------------------------------------------------
    def log_model(
        self,
        run_id: str,
        pipeline: Any,
        *,
        input_example: pd.DataFrame,
        trusted_types: list[str],
        pip_requirements: list[str],
        reference: pd.DataFrame,
    ) -> str:
        """Log the sklearn pipeline with signature and the drift reference, register a version.

        Returns:
            The new version number, as a string.
        """
        # Deferred: MLflow loads only when the registry is used, not for every command.
        import mlflow
        from mlflow.models import infer_signature

        example = input_example.head(5)
        signature = infer_signature(example, pipeline.predict(example))
        with mlflow.start_run(run_id=run_id):
            info = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                signature=signature,
                input_example=example,
                pip_requirements=pip_requirements,
                skops_trusted_types=trusted_types,
            )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(REFERENCE_ARTIFACT).name
            reference.to_parquet(path, index=False)
            self.log_artifact(run_id, path, folder=str(Path(REFERENCE_ARTIFACT).parent))
        with tempfile.TemporaryDirectory() as tmp:
            sha = _file_sha256(_download_model_file(info.model_uri, self.tracking_uri, tmp))
        tags: dict[str, Any] = {Tag.RUN_ID: run_id, Tag.MODEL_SHA256: sha}
        # register_model prints "Registered model ... already exists" to stderr for every version
        # after the first; the CLI shows its own line instead.
        with contextlib.redirect_stderr(io.StringIO()):
            version = mlflow.register_model(info.model_uri, self.model_name, tags=tags)
        return str(version.version)

    def load_model(
        self, version: str, *, trusted_types: tuple[str, ...], expected_sha256: str | None = None
    ) -> Pipeline:
        """The registered sklearn pipeline of `version`, verified (cached per process).

        Only ``model.skops`` is read, with skops' own defaults plus `trusted_types` (given by the
        caller's code, never read from the artifact: its ``MLmodel`` is ignored, so switching it to
        cloudpickle runs nothing). The file's sha256 must match the version's registration tag and
        `expected_sha256` (the promotion ledger's record) when given.

        Raises:
            ModelIntegrityError: the file is missing or its hash differs.
        """
        info = self.get_version(version)
        recorded = info.tags.get(Tag.MODEL_SHA256)
        if recorded and expected_sha256 and recorded != expected_sha256:
            raise ModelIntegrityError(
                f"model v{version}: its registry tag {Tag.MODEL_SHA256} ({recorded[:12]}…) differs from the "
                f"promotion ledger ({expected_sha256[:12]}…): the registry was changed; not loaded"
            )
        return _load_model(
            self.tracking_uri,
            self.model_name,
            str(version),
            expected_sha256 or recorded,
            tuple(trusted_types),
        )

    def load_reference(self, version: str) -> pd.DataFrame:
        info = self.get_version(version)
        return _load_reference(self.tracking_uri, info.run_id)

    def get_version(self, version: str) -> VersionInfo:
        try:
            mv = self.client.get_model_version(self.model_name, str(version))
        except Exception as err:
            raise RegistryError(f"model {self.model_name!r} has no version {version}") from err
        return _version_info(mv)

    def version_by_alias(self, alias: str) -> VersionInfo | None:
        """The version `alias` points to; None when the model or the alias does not exist.

        Raises:
            RegistryError: any other failure (an unreachable server is not "no champion").
        """
        try:
            mv = self.client.get_model_version_by_alias(self.model_name, alias)
        except Exception as err:  # sorted below: absent, or a real failure
            if _not_found(err):
                return None
            raise RegistryError(f"model registry {self.tracking_uri}: alias {alias!r}: {err}") from err
        return _version_info(mv)

    def version_of_run(self, run_id: str) -> str | None:
        """The version already registered from `run_id` (a retried registration), if any."""
        found = self.client.search_model_versions(f"name = '{self.model_name}' and run_id = '{run_id}'")
        return str(found[0].version) if found else None

    def list_versions(self) -> list[VersionInfo]:
        try:
            found = self.client.search_model_versions(f"name = '{self.model_name}'")
            aliases = dict(self.client.get_registered_model(self.model_name).aliases or {})
        except Exception as err:  # sorted below: no model yet, or a real failure
            if _not_found(err):
                return []
            raise RegistryError(f"model registry {self.tracking_uri}: {err}") from err
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        infos = [_version_info(mv) for mv in found]
        infos = [
            VersionInfo(v.version, v.run_id, tuple(sorted(by_version.get(v.version, []))), v.tags, v.created)
            for v in infos
        ]
        return sorted(infos, key=lambda v: int(v.version))

    def set_alias(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(self.model_name, alias, str(version))

    def delete_alias(self, alias: str) -> None:
        try:
            self.client.delete_registered_model_alias(self.model_name, alias)
        except Exception:  # alias was not set
            log.debug("alias %s was not set", alias)

    def set_version_tags(self, version: str, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name, str(version), key, str(value)[:5000])


def _metric_key(name: str) -> str:
    allowed = "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)
    return allowed[:250]


def _version_info(mv: Any) -> VersionInfo:
    return VersionInfo(
        version=str(mv.version),
        run_id=str(mv.run_id),
        aliases=tuple(getattr(mv, "aliases", []) or []),
        tags=dict(mv.tags or {}),
        created=int(mv.creation_timestamp or 0),
    )


@lru_cache(maxsize=8)
def _load_model(
    tracking_uri: str, model_name: str, version: str, sha256: str | None, trusted: tuple[str, ...]
) -> Pipeline:
    # Deferred: skops loads only when a model file is read.
    import skops.io

    with tempfile.TemporaryDirectory() as tmp:
        path = _download_model_file(f"models:/{model_name}/{version}", tracking_uri, tmp)
        if sha256 is None:
            log.warning(
                "model v%s has no %s tag (registered before hashes): loaded unverified",
                version,
                Tag.MODEL_SHA256,
            )
        elif (found := _file_sha256(path)) != sha256:
            raise ModelIntegrityError(
                f"model v{version}: {MODEL_FILE} has sha256 {found[:12]}…, registered {sha256[:12]}…: "
                "the artifact was changed after registration; refusing to load it"
            )
        try:
            return cast("Pipeline", skops.io.load(path, trusted=list(trusted)))
        except Exception as err:  # untrusted types or a corrupt file: never loaded
            raise ModelIntegrityError(f"model v{version}: {MODEL_FILE} refused by skops: {err}") from err


def _download_model_file(model_uri: str, tracking_uri: str, tmp: str) -> Path:
    """The model's skops file, downloaded alone (MLmodel and the rest are not needed to load it).

    Raises:
        ModelIntegrityError: the artifact has no model.skops (another serialization format).
    """
    # Deferred: MLflow loads only when the registry is used, not for every command.
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=model_uri, dst_path=tmp, tracking_uri=tracking_uri
        )
    except Exception as err:
        raise RegistryError(f"{model_uri}: could not download the model: {err}") from err
    path = Path(local) / MODEL_FILE
    if not path.is_file():
        raise ModelIntegrityError(f"{model_uri}: no {MODEL_FILE} (only the skops format is loaded)")
    return path


def _file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=8)
def _load_reference(tracking_uri: str, run_id: str) -> pd.DataFrame:
    # Deferred: MLflow loads only when the registry is used, not for every command.
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=REFERENCE_ARTIFACT, dst_path=tmp, tracking_uri=tracking_uri
        )
        return pd.read_parquet(path)
