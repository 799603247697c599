"""Project-level facts derived once from config and reference data: task, features, metric."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from driftline.core.config import ConfigError
from driftline.services.workspace import Workspace
from models.spec import (
    higher_is_better,
    index_like_columns,
    infer_features,
    infer_task,
    label_text,
    primary_metric,
)

TaskKind = Literal["binary", "multiclass", "regression"]


@dataclass(frozen=True)
class ProjectFacts:
    """What every flow needs to know about the data."""

    task: TaskKind
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    metric: str
    higher_is_better: bool
    positive_label: str | None = None
    # undeclared columns left out of the features as a likely row id / time index → the advice
    index_like: tuple[tuple[str, str], ...] = ()
    # the classes of the reference target (classification; as text): labels outside it are rejected
    classes: tuple[str, ...] = ()

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "positive_label": self.positive_label,
            "index_like": dict(self.index_like),
            "classes": list(self.classes),
        }

    @property
    def notes(self) -> list[str]:
        """What a person should know about how the features were chosen."""
        return [advice for _, advice in self.index_like]


def facts_path(ws: Workspace) -> Path:
    return ws.root / "reference" / "facts.json"


def derive_facts(ws: Workspace, reference: pd.DataFrame) -> ProjectFacts:
    """Infer task and feature lists from reference data (config values win) and store them."""

    data = ws.config.data
    if data.target not in reference.columns:
        raise ConfigError(f"reference data has no target column {data.target!r}")
    task = data.task if data.task != "auto" else infer_task(reference[data.target].dropna())
    spec = infer_features(
        reference,
        target=data.target,
        id_column=data.id_column,
        time_column=data.time_column,
        features=data.features,
        categorical=data.categorical,
    )
    index_like = (
        index_like_columns(reference, exclude=[data.target, data.id_column, data.time_column])
        if data.features is None
        else {}
    )
    metric = ws.config.gate.metric or primary_metric(task)
    classes = tuple(sorted(set(label_text(reference[data.target].dropna())))) if task != "regression" else ()
    positive = classes[-1] if task == "binary" else None
    facts = ProjectFacts(
        task,
        tuple(spec.numeric),
        tuple(spec.categorical),
        metric,
        higher_is_better(metric),
        positive,
        tuple(index_like.items()),
        classes,
    )
    path = facts_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(facts.to_dict(), indent=2))
    return facts


def load_facts(ws: Workspace) -> ProjectFacts:
    """The facts stored by `contract init`.

    Raises:
        ConfigError: the project has no reference data yet.
    """
    path = facts_path(ws)
    if not path.is_file():
        raise ConfigError(
            f"{ws.config.project}: no reference data yet; run 'driftline contract init --reference FILE'"
        )
    raw = json.loads(path.read_text())
    return ProjectFacts(
        raw["task"],
        tuple(raw["numeric"]),
        tuple(raw["categorical"]),
        raw["metric"],
        raw["higher_is_better"],
        raw.get("positive_label"),
        tuple((raw.get("index_like") or {}).items()),
        tuple(raw.get("classes") or ()),
    )
