"""The label check: labels a model cannot learn from are rejected, the rest recorded."""

from __future__ import annotations

import pandas as pd
import pytest

from driftline.services.labels import check_labels
from driftline.services.project import ProjectFacts

BINARY = ProjectFacts("binary", ("x",), (), "auc", True, "1", classes=("0", "1"))
MULTI = ProjectFacts("multiclass", ("x",), (), "macro_f1", True, classes=("high", "low", "mid"))
REGRESSION = ProjectFacts("regression", ("x",), (), "rmse", False)


def labels(values: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"batch_id": "b1", "row_key": [str(i) for i in range(len(values))], "label": values})


@pytest.mark.parametrize(
    ("facts", "values", "bad"),
    [
        (BINARY, ["0", "1", "2", "1"], ["2"]),
        (BINARY, ["yes", "no", "1"], ["yes", "no"]),
        (REGRESSION, ["1.5", "-3", "abc", "inf", "nan"], ["abc", "inf", "nan"]),
    ],
)
def test_labels_outside_what_the_model_knows_are_rejected_with_file_column_and_rule(facts, values, bad):
    check = check_labels(labels(values), facts, source="late.csv", column="y")
    assert check.rejected["label"].tolist() == bad
    assert check.good["label"].tolist() == [v for v in values if v not in bad]
    assert check.message.startswith(
        f"late.csv: column 'y': {len(bad)} of {len(values)} labels rejected (rule: "
    )
    assert repr(bad[0]) in check.message


def test_valid_labels_pass_untouched():
    check = check_labels(labels(["0", "1", "1"]), BINARY, source="b.csv", column="y")
    assert check.message == "" and check.rejected.empty and len(check.good) == 3


def test_a_project_without_recorded_classes_rejects_nothing():
    legacy = ProjectFacts("binary", ("x",), (), "auc", True, "1")
    assert check_labels(labels(["0", "7"]), legacy, source="b.csv", column="y").rejected.empty


def test_a_new_multiclass_class_is_accepted_and_named_by_default_or_rejected_when_configured():
    values = ["low", "mid", "fog", "fog"]
    accepted = check_labels(labels(values), MULTI, source="b.csv", column="y")
    assert accepted.rejected.empty and accepted.new_classes == ("fog",) and len(accepted.good) == 4
    strict = check_labels(labels(values), MULTI, source="b.csv", column="y", new_classes="reject")
    assert strict.rejected["label"].tolist() == ["fog", "fog"] and strict.good["label"].tolist() == [
        "low",
        "mid",
    ]
    assert "rule: a label must be one of the classes the model knows (high, low, mid)" in strict.message


def test_a_binary_target_rejects_a_third_class_even_when_new_classes_are_accepted():
    check = check_labels(labels(["0", "2"]), BINARY, source="b.csv", column="y", new_classes="accept")
    assert check.rejected["label"].tolist() == ["2"] and check.new_classes == ()
