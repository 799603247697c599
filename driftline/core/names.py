"""The names Driftline writes into MLflow: registry aliases and tag keys, one table of each.

Tests spell the literal strings on purpose: they are the contract with anyone reading the
registry (the MLflow UI, a script), so a rename here must fail them.
"""

from __future__ import annotations

from enum import StrEnum

CHAMPION = "champion"  # the alias of the version that serves; also its role in the prediction log
CHALLENGER = "challenger"  # the alias of the candidate waiting for the gate (or for shadow labels)


class Tag(StrEnum):
    """Tag keys on runs, model versions and the experiment (each member is its string)."""

    KIND = "driftline.kind"  # run: retrain, monitoring, replay
    TRIGGER = "driftline.trigger"  # why a retrain ran
    POLICY = "driftline.policy"  # replay run: the policy replayed
    TASK = "driftline.task"  # binary, multiclass, regression
    METRIC = "driftline.metric"  # the metric the gate judges
    HOLDOUT_METRIC = "driftline.holdout_metric"
    WINDOW = "driftline.window"  # the batch ids trained on
    HOLDOUT = "driftline.holdout"  # the batch ids held out for the gate
    WINDOW_CHOICE = "driftline.window_choice"  # window.adaptive: which window won, and by how much
    CONTRACT_HASH = "driftline.contract_hash"
    CONTRACT_VERSION = "driftline.contract_version"
    TOP_FEATURES = "driftline.top_features"  # the SHAP summary's top five
    SHAP = "driftline.shap"  # why a version has no SHAP summary of its own
    GATE = "driftline.gate"  # the verdict: promote or reject
    GATE_SUMMARY = "driftline.gate_summary"
    GATE_REASONS = "driftline.gate_reasons"
    STATUS = "driftline.status"  # champion, rejected, retired
    PROMOTED_BY = "driftline.promoted_by"
    REFIT_OF = "driftline.refit_of"  # the served refit names the version the gate judged
    REFIT_TO = "driftline.refit_to"  # and that version names its refit
    TRIVIAL = "driftline.trivial"  # the trivial baseline (class priors / training mean)
    RUN_ID = "driftline.run_id"
    MODEL_SHA256 = "driftline.model_sha256"  # the registered model.skops file's hash
    PROJECT_ID = "driftline.project_id"  # experiment and state store: the same project
    PROJECT_ROOT = "driftline.project_root"  # experiment: the folder the project was created in
