"""The one validated configuration object (`driftline.yaml`), loaded once at the CLI/flow boundary.

Every threshold the pipeline uses lives here with a documented default; pure functions receive
the values they need as keyword arguments, never the whole config.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONFIG_FILE = "driftline.yaml"
TRACKING_URI_ENV = "DRIFTLINE_TRACKING_URI"
# `${NAME}` in an alert route URL: replaced by the environment variable at send time.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """A configuration problem, with one message naming the key, the value and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """What the data looks like. Features and categorical columns are inferred when absent."""

    target: str = Field(description="Name of the target (label) column.")
    id_column: str | None = Field(None, description="Row key; row position is used when absent.")
    time_column: str | None = Field(None, description="Event time column, used for windows/replay.")
    task: Literal["auto", "binary", "multiclass", "regression"] = "auto"
    features: list[str] | None = Field(None, description="Feature columns; default: all others.")
    categorical: list[str] | None = Field(None, description="Categorical features; default: inferred.")
    new_classes: Literal["accept", "reject"] = Field(
        "accept",
        description="Multiclass labels of a class the reference never had: 'accept' (recorded, logged "
        "as a new class; classes do appear over time) or 'reject' (label quarantine). A binary target "
        "always rejects a third class.",
    )
    sensitive: list[str] = Field(
        default_factory=list,
        description="Sensitive columns (e.g. a demographic attribute) whose groups get fairness metrics "
        "per labeled batch and a gate rule (`fairness:`, `gate.fairness_margin`). They need not be "
        "features; a feature stays one unless `features` leaves it out.",
    )

    @model_validator(mode="after")
    def _sensitive_are_data_columns(self) -> DataConfig:
        roles = {self.target: "target", self.id_column: "id_column", self.time_column: "time_column"}
        for column in self.sensitive:
            if not column:
                raise ValueError("sensitive: column names must not be empty")
            if column in roles:
                raise ValueError(f"sensitive column {column!r} is the {roles[column]}; name a data column")
        if len(set(self.sensitive)) < len(self.sensitive):
            raise ValueError(f"sensitive lists a column twice: {self.sensitive}")
        return self


class StorageConfig(_Section):
    """Where state lives. Relative paths are resolved against the config file's folder."""

    root: Path = Field(Path(".driftline"), description="Batch store, reports, SQLite files.")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI; default: sqlite under the storage root."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the batch/prediction log; default: sqlite under root."
    )
    allow_outside_project: bool = Field(
        False,
        description="Let `root` point outside the project folder (by default it must stay inside, "
        "so a typo such as '../..' cannot scatter state across the disk).",
    )


class ContractConfig(_Section):
    """How `driftline contract init` bootstraps a suite from reference data."""

    suite: str | None = Field(None, description="Suite file name; default: <project>.json.")
    warn_range_margin: float = Field(0.1, ge=0, description="Warn outside [min, max] ± margin·span.")
    scale_tolerance: float = Field(
        3.0, gt=0, description="Block a median beyond the reference's 1–99% by this × the column's scale."
    )
    shrink_factor: float = Field(20.0, gt=1, description="Block a positive column shrunk by this factor.")
    spread_factor: float = Field(10.0, gt=1, description="Block a stdev this many times the reference's.")
    block_null_jump: float = Field(
        0.4, gt=0, le=1, description="Block a null rate this far above the reference."
    )
    type_tolerance: float = Field(
        0.02, ge=0, lt=1, description="Block a numeric column with more than this share of text."
    )
    block_range_margin: float | None = Field(
        None, ge=0, description="Opt-in: block outside [min, max] ± margin·span (None: off)."
    )
    block_range_mostly: float = Field(0.9, gt=0, le=1, description="Share that must be in that range.")
    bounds: dict[str, list[float | None]] = Field(
        default_factory=dict, description="Declared validity bounds: {column: [min, max]}, blocking."
    )
    streak_batches: int = Field(3, ge=1, description="Same rule blocking this many batches in a row: alert.")
    max_categories: int = Field(30, ge=1, description="Columns with ≤ this many values get a set rule.")
    category_mostly: float = Field(0.95, gt=0, le=1)
    null_margin: float = Field(0.05, ge=0, le=1, description="Allowed rise of a column's null rate.")
    row_count_factor: float = Field(10.0, gt=0, description="Warn above factor × reference rows.")


class DriftConfig(_Section):
    """Evidently data-drift settings."""

    drift_share: float = Field(0.5, gt=0, le=1, description="Dataset drift when share ≥ this.")
    max_rows: int = Field(20_000, ge=100, description="Both sides are sampled to at most this.")
    num_method: str | None = Field(None, description="Evidently stat test for numeric columns.")
    cat_method: str | None = Field(None, description="Evidently stat test for categorical columns.")
    threshold: float | None = Field(None, description="Stat-test threshold; default per method.")
    reference_rows: int = Field(20_000, ge=100, description="Reference sample kept per model.")
    html_report: bool = Field(
        True, description="Write and log Evidently's HTML report per batch (replays default to off)."
    )
    seed: int = 0


class WindowConfig(_Section):
    """Which batches a retrain sees."""

    batches: int | None = Field(6, ge=1, description="Train on the last N batches (None: duration).")
    duration: str | None = Field(None, description="Or a pandas offset over the time column: '90D'.")
    expanding: bool = Field(False, description="Use every accepted batch instead of the last N.")
    adaptive: bool = Field(
        True,
        description="Also fit on a long window (every accepted batch so far, as a bounded sample: "
        "`long_multiple`, `long_min_rows`) and keep whichever of the two windows scores better on "
        "the same holdout.",
    )
    long_multiple: float = Field(
        2.0,
        ge=1.0,
        description="The adaptive long window fits a uniform sample of every batch so far of at most "
        "this many times the recent window's training rows (or `long_min_rows`, if more), so a "
        "retrain costs O(window), not O(history).",
    )
    long_min_rows: int = Field(
        20_000,
        ge=1,
        description="The long window keeps every row up to this many (such fits take a second or two).",
    )
    max_rows: int = Field(200_000, ge=1, description="At most this many rows in the adaptive long window.")
    holdout_batches: int = Field(1, ge=1, description="Newest batches held out for the gate.")
    min_train_rows: int = Field(200, ge=1, description="Labeled rows a retrain needs to train on.")
    min_holdout_rows: int = Field(100, ge=1, description="Labeled rows held out for the gate.")
    first_model_rows: int | None = Field(
        None,
        ge=2,
        description="Until a model has beaten the trivial baseline (no champion yet, or the baseline "
        "serves), a retrain needs only this many labeled rows in all (never more than the two minimums "
        "above), a third of them held out, and the gate judges on that holdout (even below "
        "`gate.min_rows`): its baseline rule, the paired bootstrap's lower bound, decides whether the "
        "evidence is enough. null (the default): the usual minimums; see the README before setting it.",
    )


class ModelConfig(_Section):
    """The scikit-learn pipeline."""

    estimator: Literal["hist_gradient_boosting", "random_forest", "linear"] = "hist_gradient_boosting"
    params: dict[str, Any] = Field(default_factory=dict, description="Estimator keyword arguments.")
    seed: int = 0
    shap_rows: int = Field(
        1000,
        ge=10,
        description="Rows explained for the global SHAP summary; for a k-class model a budget of "
        "rows x classes (max(200, shap_rows / k) rows), since SHAP's cost grows with both.",
    )


class GateConfig(_Section):
    """The shadow comparison gate."""

    mode: Literal["holdout", "shadow"] = "holdout"
    rule: Literal["estimate", "non_inferiority", "superiority"] = Field(
        "estimate",
        description="Against the champion: `estimate` (the challenger scores at least as well on the "
        "holdout), `non_inferiority` (the interval's lower bound above -margin) or `superiority` (above 0).",
    )
    metric: str | None = Field(None, description="Default: auc / macro_f1 / rmse by task.")
    margin: float = Field(
        0.01,
        ge=0,
        description="Non-inferiority margin (rule `non_inferiority`): metric units for AUC, F1, accuracy "
        "and R²; for RMSE and MAE a fraction of the champion's value (0.01: 1%).",
    )
    min_rows: int = Field(100, ge=1, description="Holdout rows the gate needs to judge.")
    n_bootstrap: int = Field(500, ge=50)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    slices: list[str] = Field(default_factory=list, description="Columns whose slices must not regress.")
    slice_margin: float = Field(0.05, ge=0)
    slice_min_rows: int = Field(100, ge=1)
    baseline_min_improvement: float = Field(
        0.01, ge=0, description="Must beat a trivial model by (RMSE, MAE: a fraction of its value)."
    )
    refit_on_promotion: bool = Field(
        True, description="Serve the gated recipe refit on the whole window, holdout included."
    )
    trivial_until_first_model: bool = Field(
        True,
        description="No model beat the trivial baseline yet: serve the baseline (class priors / the "
        "mean) so batches are scored and measured until a retrain beats it.",
    )
    fairness_margin: float | None = Field(
        0.05,
        ge=0,
        description="Reject a challenger whose group disparity (`fairness.measure`, per `data.sensitive` "
        "column) is wider than the champion's by more than this: the lower bound of the paired-bootstrap "
        "widening must not exceed it. null: no fairness rule.",
    )
    seed: int = 0


class LatencyConfig(_Section):
    """Service levels of scoring; a batch beyond them raises a `latency_breach` alert."""

    max_ms_per_row_p99: float | None = Field(
        5.0, gt=0, description="Alert when the p99 per-row scoring latency (ms) exceeds this; null: off."
    )
    min_rows_per_second: float | None = Field(
        None, gt=0, description="Champion scoring throughput below this (rows/s) alerts; null: never."
    )


class FairnessConfig(_Section):
    """Per-group fairness of the champion on each labeled batch (columns in `data.sensitive`)."""

    measure: Literal["equalized_odds", "demographic_parity", "metric_gap"] = Field(
        "equalized_odds",
        description="Binary disparity: 'equalized_odds' (larger of the TPR and FPR gaps between groups), "
        "'demographic_parity' (selection-rate gap) or 'metric_gap' (task-metric gap). Multiclass and "
        "regression always use the task-metric gap (relative to the whole batch for rmse/mae).",
    )
    max_disparity: float | None = Field(
        0.2, ge=0, description="Alert (`fairness_breach`) when a column's disparity exceeds this; null: off."
    )
    min_group_rows: int = Field(
        50,
        ge=1,
        description="A group's value takes part in a disparity only when its denominator has this many "
        "labeled rows (rows for selection rate and metric, actual positives for TPR, negatives for FPR); "
        "smaller ones are reported, not compared. Also used by the gate's fairness rule.",
    )
    max_groups: int = Field(
        50, ge=2, description="A column with more distinct values is not measured (bucket it first)."
    )


class PolicyConfig(_Section):
    """When the batch cycle asks for a retrain."""

    drift_k: int = Field(2, ge=1, description="Retrain when k of the last m batches drifted.")
    drift_m: int = Field(3, ge=1)
    performance_tolerance: float = Field(0.02, ge=0, description="Relative drop vs holdout metric.")
    cooldown_batches: int = Field(2, ge=0, description="Batches after a retrain with no retrain.")
    min_labeled_rows: int = Field(
        200,
        ge=1,
        description="Labeled rows needed since the last retrain, at most `cooldown_batches` typical batches' "
        "worth; also the rows the performance rule pools small batches to.",
    )
    use_estimate: bool = Field(
        False,
        description="A batch whose labels have not arrived judges the performance trigger by its "
        "estimated metric (CBPE from calibrated probabilities; classification only).",
    )
    schedule_cron: str | None = Field(None, description="Cron for scheduled retrains (UTC default).")
    schedule_timezone: str = "UTC"

    @model_validator(mode="after")
    def _k_within_m(self) -> PolicyConfig:
        if self.drift_k > self.drift_m:
            raise ValueError(f"drift_k={self.drift_k} must be ≤ drift_m={self.drift_m}")
        return self


Severity = Literal["info", "warning", "critical"]


class AlertRoute(_Section):
    """One place alerts go: an apprise URL and the least severity it receives."""

    url: str = Field(
        description="Apprise URL (json://, mailto://, slack://...); write secrets as ${ENV_VAR}, "
        "expanded from the environment at send time."
    )
    min_severity: Severity = Field("info", description="Send alerts of this severity and above.")

    @field_validator("url")
    @classmethod
    def _looks_like_a_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("expected an apprise URL such as 'json://host:port/path' or 'mailto://...'")
        if "${" in ENV_REFERENCE.sub("", value):
            raise ValueError("write an environment variable as ${NAME} (letters, digits, '_')")
        return value


class AlertsConfig(_Section):
    """Where alerts go. No routes: alerts are only stored (`driftline alerts`) and logged."""

    routes: list[AlertRoute] = Field(default_factory=list, description="Delivery routes, by severity.")
    cooldown_minutes: float = Field(
        60, ge=0, description="Repeats of the same kind and subject within this are stored, not sent."
    )
    retries: int = Field(2, ge=0, description="Extra delivery attempts per route after a failure.")
    retry_wait_seconds: float = Field(1.0, ge=0, description="Pause between delivery attempts.")
    timeout_seconds: float = Field(10.0, gt=0, description="Connect/read timeout of one delivery attempt.")


class AttributionConfig(_Section):
    """Attribution drift: the champion's SHAP importance on each batch vs on its training data."""

    enabled: bool = Field(True, description="Compare the champion's SHAP importance per batch.")
    rows: int = Field(
        200,
        ge=10,
        description="Batch rows explained (seeded sample, `model.seed`). 200 rows cost ~0.1 s (binary) to "
        "~0.5 s (6 classes) with gradient boosting on 2 cores; cost grows with the classes (40: ~2.6 s).",
    )
    every: int = Field(1, ge=1, description="Compare on every N-th batch only (to save SHAP time).")
    top_k: int = Field(5, ge=1, description="Top features whose overlap is compared.")
    min_rank_correlation: float = Field(
        0.5, ge=-1, le=1, description="Alert (`attribution_drift`) when the rank correlation is below."
    )
    min_top_k_overlap: float = Field(
        0.6, ge=0, le=1, description="Alert when the share of top-k features still in the top-k is below."
    )
    min_rows: int = Field(30, ge=1, description="Smaller batches are not compared (too noisy).")
    min_features: int = Field(
        5,
        ge=2,
        description="With fewer features the rank correlation is not judged: two or three ranks flip "
        "whenever near-equal importances swap (it alerted on a no-drift control with 4 features).",
    )


class ReviewConfig(_Section):
    """The human review queue: low-confidence predictions a person labels (`driftline review`)."""

    enabled: bool = Field(True, description="Queue each batch's least confident champion predictions.")
    max_per_batch: int = Field(50, ge=1, description="At most this many rows of one batch are queued.")
    binary_margin: float = Field(
        0.1, gt=0, le=0.5, description="Binary: queue a row when |P(positive) - 0.5| is below this (δ)."
    )
    multiclass_max_prob: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Multiclass: queue a row when its top class probability is below this (τ).",
    )
    capacity: int = Field(
        1000, ge=1, description="Open items kept; beyond it the oldest expire and `review_capacity` alerts."
    )
    weight: float = Field(
        2.0, gt=0, description="Training weight of a reviewed label (other labels weigh 1)."
    )


class DriftlineConfig(_Section):
    """The whole `driftline.yaml`."""

    project: str = Field(description="Project name; also the registered model's name.")
    data: DataConfig
    storage: StorageConfig = StorageConfig()
    contract: ContractConfig = ContractConfig()
    drift: DriftConfig = DriftConfig()
    window: WindowConfig = WindowConfig()
    model: ModelConfig = ModelConfig()
    gate: GateConfig = GateConfig()
    policy: PolicyConfig = PolicyConfig()
    latency: LatencyConfig = LatencyConfig()
    fairness: FairnessConfig = FairnessConfig()
    alerts: AlertsConfig = AlertsConfig()
    review: ReviewConfig = ReviewConfig()
    attribution: AttributionConfig = AttributionConfig()
    base_dir: Path = Field(Path("."), exclude=True, description="Folder of the config file.")

    @field_validator("project")
    @classmethod
    def _project_name(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c in "-_" for c in value):
            raise ValueError("use letters, digits, '-' and '_' only")
        return value

    # Resolved locations -------------------------------------------------------------------
    @property
    def root(self) -> Path:
        root = self.storage.root
        return (root if root.is_absolute() else self.base_dir / root).resolve()

    @model_validator(mode="after")
    def _root_inside_project(self) -> DriftlineConfig:
        base = self.base_dir.resolve()
        if not self.storage.allow_outside_project and not self.root.is_relative_to(base):
            raise ValueError(
                f"storage.root {str(self.storage.root)!r} resolves to {self.root}, outside the project "
                f"folder {base}; use a path inside it, or set storage.allow_outside_project: true"
            )
        return self

    @property
    def tracking_uri(self) -> str:
        return self.storage.tracking_uri or f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.root / "mlartifacts"

    @property
    def database_url(self) -> str:
        return self.storage.database_url or f"sqlite:///{self.root / 'driftline.db'}"

    @property
    def suite_path(self) -> Path:
        name = self.contract.suite or f"{self.project}.json"
        return self.base_dir.resolve() / "data_contracts" / "suites" / name

    @property
    def model_name(self) -> str:
        return self.project

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect"


def _format_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    value = first.get("input")
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"{source}: unknown key '{key}' (value {value!r}); check the spelling"
    if kind == "missing":
        return f"{source}: missing required key '{key}'"
    allowed = first.get("ctx", {}).get("expected")
    detail = f"allowed: {allowed}" if allowed else first["msg"]
    return f"{source}: key '{key}' has invalid value {value!r}; {detail}"


def parse_config(raw: dict[str, Any], *, base_dir: Path, source: str = CONFIG_FILE) -> DriftlineConfig:
    """Validate a raw mapping into a `DriftlineConfig`.

    Raises:
        ConfigError: naming the key, the value and what is allowed.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return DriftlineConfig(**raw, base_dir=base_dir)
    except ValidationError as err:
        raise ConfigError(_format_error(err, source)) from None
    except TypeError as err:
        raise ConfigError(f"{source}: {err}") from None


def load_config(path: Path) -> DriftlineConfig:
    """Read and validate `driftline.yaml`.

    Raises:
        ConfigError: the file is missing, not YAML, or holds a wrong key or value.
    """

    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no config file; run 'driftline init --data FILE --target COL' to create one"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    cfg = parse_config(raw, base_dir=path.resolve().parent, source=str(path))
    served = os.environ.get(TRACKING_URI_ENV)
    if served:
        # Set by `driftline up` users' CLI processes and its served flow runs: while the MLflow
        # server is up, every write goes through it, never concurrently into the SQLite file.
        cfg = cfg.model_copy(update={"storage": cfg.storage.model_copy(update={"tracking_uri": served})})
    return cfg


def dump_config(config: DriftlineConfig) -> str:
    """The config as YAML, defaults included (what `driftline config show` prints)."""

    data = config.model_dump(mode="json", exclude={"base_dir"})
    return mask_credentials(yaml.safe_dump(data, sort_keys=False))


_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)(?P<at>@)", re.IGNORECASE
)
_SECRET_QUERY = re.compile(
    r"(?P<head>[?&](?:password|pass|token|key|secret|apikey)=)(?P<secret>[^&\s]+)", re.IGNORECASE
)


def mask_credentials(text: str) -> str:
    """Passwords in URLs (``postgresql://user:pw@host``) and secret query parameters as ``***``;
    ``${ENV_VAR}`` references stay visible (they are not secrets)."""

    def hide(m: re.Match[str]) -> str:
        secret = m.group("secret")
        return m.group(0) if secret.startswith("${") else m.group(0).replace(secret, "***", 1)

    return _SECRET_QUERY.sub(hide, _URL_PASSWORD.sub(hide, text))


def write_config(config: DriftlineConfig, path: Path) -> None:
    """Write a config file, keeping only non-default sections short."""

    data = config.model_dump(mode="json", exclude={"base_dir"}, exclude_defaults=True)
    data = {"project": config.project, **data}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
