"""The label-file corpus: every kind of broken (or merely unusual) late label file a feed produces.

Each case is delivered with ``driftline labels FILE`` (in-process; one case through the real
command in a subprocess) to a binary and/or a regression project whose last batch arrived without
labels. A broken file must fail with its exit code and one error line naming the file, the column
and the rule, no traceback; the file is kept (its rejected rows in the label quarantine with a
report); no bad value reaches the labels table, so none reaches a training window; and the good
labels of the same rows, delivered next, are accepted. After the corpus a retrain trains on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.core.batch_io import batch_id_of, content_hash
from driftline.services.workspace import Workspace
from flows.batch_cycle import batch_cycle
from tests.cli_runner import invoke
from tests.flows.project import build_project, init_from
from tests.reliability.corpus import (
    as_param,
    case_name,
    csv,
    edit,
    file_stem,
    parquet,
    raw,
    rows_of,
    setcol,
    text,
)
from tests.streams import make_batch
from tests.test_cli import driftline

pytestmark = pytest.mark.slow

# What a case must end in: the exit code, and where the file (or its rejected rows) is kept.
REJECTED = "rejected"  # exit 1: bad labels in the label quarantine, the others recorded
UNKNOWN = "unknown"  # exit 1: ids that match no scored row, not recorded
UNREADABLE = "unreadable"  # exit 2: nothing recorded; the raw file kept under labels/<id>/
USAGE = "usage"  # exit 2: no file to keep (a directory, a wrong path)
ACCEPTED = "accepted"  # exit 0: unusual but valid
EXIT = {REJECTED: 1, UNKNOWN: 1, UNREADABLE: 2, USAGE: 2, ACCEPTED: 0}
B, R, BR = ("binary",), ("regression",), ("binary", "regression")
SLICE = 50  # rows of the unlabeled batch each case delivers labels for


def unique_ids(prefix: str):
    return lambda ids: [f"{prefix}{i}" for i in range(len(ids))]


def flip_some(f: pd.DataFrame) -> pd.DataFrame:
    """Five ids given a second time with another label (a second export appended)."""
    again = f.head(5).copy()
    again["y"] = 1 - again["y"] if set(again["y"]) <= {0, 1} else again["y"] + 10.0
    return pd.concat([f, again], ignore_index=True)


def directory(_: pd.DataFrame, path: Path) -> Path:
    path.mkdir()
    return path


def nowhere(_: pd.DataFrame, path: Path) -> Path:
    return path.with_suffix(".csv")


# (name, projects, writer, outcome, words the error line must hold besides the file name)
CASES: list = [
    # --- ids ------------------------------------------------------------------------------------
    ("unknown ids", BR, edit(setcol("event_id", lambda f: "zz" + f["event_id"].astype(str))), UNKNOWN,
     ("'event_id'", "match no scored row", "rule: ")),
    ("a few unknown ids", B, edit(rows_of(0.2, "event_id", unique_ids("nobody-"))), UNKNOWN,
     ("'event_id'", "10 of 50 ids", "nobody-0")),
    ("numbers for text ids", B, edit(setcol("event_id", lambda f: f["event_id"].str[1:])), UNKNOWN,
     ("'event_id'", "50 of 50 ids")),
    ("non-numeric ids in an integer id column", R, edit(rows_of(0.2, "event_id", unique_ids("abc"))),
     UNKNOWN, ("'event_id'", "10 of 50 ids", "abc0")),
    ("null ids", B, edit(rows_of(0.1, "event_id", np.nan)), UNKNOWN, ("'event_id'", "5 of 50 ids")),
    ("duplicated ids with other labels", BR, edit(flip_some), REJECTED,
     ("'event_id'", "10 of 55 labels rejected", "rule: an id must appear once in a label file")),
    ("a repeated row", B, edit(lambda f: pd.concat([f, f.head(1)], ignore_index=True)), REJECTED,
     ("'event_id'", "2 of 51 labels rejected", "appear once")),
    # --- wrong types ------------------------------------------------------------------------------
    ("text in a regression target", R, edit(rows_of(0.2, "y", "abc")), REJECTED,
     ("'y'", "10 of 50 labels rejected", "rule: a regression label must be a finite number", "'abc'")),
    ("an all-text regression target", R, edit(setcol("y", "high")), REJECTED, ("'y'", "50 of 50", "'high'")),
    ("decimal commas", R, edit(setcol("y", lambda f: f["y"].map(lambda v: f"{v:.2f}".replace(".", ",")))),
     REJECTED, ("'y'", "50 of 50", "finite number")),
    ("infinite regression labels", R, edit(rows_of(0.1, "y", np.inf)), REJECTED, ("'y'", "'inf'")),
    ("probabilities for classes", B, edit(setcol("y", lambda f: np.linspace(0.05, 0.95, len(f)))),
     REJECTED, ("'y'", "50 of 50", "classes the model knows")),
    # --- unseen classes ---------------------------------------------------------------------------
    ("a third class 2", B, edit(rows_of(0.2, "y", 2)), REJECTED,
     ("'y'", "10 of 50 labels rejected", "rule: a label must be one of the classes the model knows (0, 1)",
      "'2'")),
    ("yes/no for 1/0", B, edit(setcol("y", lambda f: f["y"].map({0: "no", 1: "yes"}))), REJECTED,
     ("'y'", "50 of 50", "'no'", "'yes'")),
    ("maybe", B, edit(rows_of(0.1, "y", "maybe")), REJECTED, ("'y'", "5 of 50", "'maybe'")),
    ("True/False for 1/0", B, edit(setcol("y", lambda f: f["y"].astype(bool))), REJECTED, ("'y'", "'True'")),
    ("-1/1 for 0/1", B, edit(setcol("y", lambda f: f["y"].replace(0, -1))), REJECTED, ("'y'", "'-1'")),
    # --- missing columns --------------------------------------------------------------------------
    ("no id column", BR, edit(lambda f: f.drop(columns=["event_id"])), UNREADABLE,
     ("'event_id'", "missing", "rule: a label file needs the id column and the target")),
    ("no target column", BR, edit(lambda f: f.drop(columns=["y"])), UNREADABLE, ("'y'", "missing", "rule: ")),
    ("semicolon delimiter", B, text(lambda t: t.replace(",", ";")), UNREADABLE, ("'event_id'", "missing")),
    # --- no content -------------------------------------------------------------------------------
    ("0 bytes", B, raw(b""), UNREADABLE, ("empty (0 bytes)",)),
    ("header only", B, text(lambda t: t.splitlines()[0] + "\n"), UNREADABLE, ("no rows",)),
    ("every target empty", B, edit(setcol("y", np.nan)), UNREADABLE,
     ("'y'", "all 50 values are empty", "rule: a label file needs at least one label")),
    # --- encodings, formats, paths ----------------------------------------------------------------
    ("latin-1 text", B, edit(setcol("note", "vérifié"), lambda f, p: csv(f, p, encoding="latin-1")),
     UNREADABLE, ("not UTF-8", "rule: a CSV file must be UTF-8 encoded", "0xe9")),
    ("utf-16 text", B, text(lambda t: t, encoding="utf-16"), UNREADABLE, ("rule: a CSV file must be UTF-8",)),
    ("binary garbage", B, raw(bytes(range(256)) * 8), UNREADABLE, ("cannot be read",)),
    ("unsupported suffix", B, raw(b"event_id,y\ne1,1\n", ".xlsx"), UNREADABLE, ("unsupported format",)),
    ("a directory", B, directory, USAGE, ("is a directory",)),
    ("a file that does not exist", B, nowhere, USAGE, ("file not found",)),
    # --- unusual but valid ------------------------------------------------------------------------
    ("some targets empty", BR, edit(rows_of(0.2, "y", np.nan)), ACCEPTED, ()),
    ("parquet labels", BR, edit(lambda f: f, parquet), ACCEPTED, ()),
    ("an extra column", B, edit(setcol("note", "checked by hand")), ACCEPTED, ()),
    ("classes as floats 0.0/1.0", B, edit(lambda f: f.astype({"y": float})), ACCEPTED, ()),
    ("utf-8 BOM", B, text(lambda t: "\ufeff" + t), ACCEPTED, ()),
    ("integer ids written as floats", R, edit(lambda f: f.astype({"event_id": float})), ACCEPTED, ()),
]  # fmt: skip


@dataclass(frozen=True)
class Project:
    ws: Workspace
    folder: Path  # the project folder: where the commands run
    task: str
    batch_id: str  # the batch that arrived without labels
    truth: pd.DataFrame  # its labels (event_id, y), in batch order

    def labels_table(self) -> pd.DataFrame:
        return pd.read_sql("SELECT batch_id, row_key, label FROM labels", self.ws.state.engine)

    def valid(self, labels: pd.Series) -> bool:
        if self.task == "binary":
            return set(labels) <= {"0", "1"}
        return bool(np.isfinite(pd.to_numeric(labels, errors="coerce")).all())


def _integer_ids(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(event_id=frame["event_id"].str[1:].astype("int64"))


def _build(task: str, root: Path) -> Project:
    rows = len(CASES) * SLICE  # a slice of rows per case
    if task == "binary":
        ws = build_project(root)
        batch = make_batch(rows, seed=700, start=700_000)
    else:  # integer ids, so a text id is a type error
        parts = [_integer_ids(make_batch(1000, seed=s, start=s * 1000, task=task)) for s in range(4)]
        ws = init_from(pd.concat(parts, ignore_index=True), root)
        batch = _integer_ids(make_batch(rows, seed=701, start=701_000, task=task))
    path = csv(batch.drop(columns=["y"]), root / "unlabeled")
    config = str(ws.config.base_dir / "driftline.yaml")
    outcome = batch_cycle(path=str(path), config_path=config, allow_retrain=False)
    assert outcome["status"] == "accepted", outcome
    truth = batch[["event_id", "y"]].reset_index(drop=True)
    return Project(ws, ws.config.base_dir, task, outcome["batch_id"], truth)


@pytest.fixture(scope="module")
def projects(prefect_harness, tmp_path_factory):
    built: dict[str, Project] = {}

    def get(task: str) -> Project:
        if task not in built:
            built[task] = _build(task, tmp_path_factory.mktemp(f"labels-{task}"))
        return built[task]

    return get


def _params():
    for case in CASES:
        name, tasks, *rest = case
        for task in tasks:
            yield as_param((f"{task}: {name}", task, name, *rest))


def test_the_corpus_covers_the_kinds_asked_for():
    names = [case_name(c) for c in CASES]
    assert len(names) == len(set(names)) and len(names) >= 30
    assert {t for c in CASES for t in c[1]} == {"binary", "regression"}


def _error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def _stored(project: Project, ids: pd.Series) -> pd.DataFrame:
    """The labels recorded for these ids of the unlabeled batch."""
    table = project.labels_table()
    keys = set(ids.astype(str))
    return table[(table["batch_id"] == project.batch_id) & table["row_key"].isin(keys)]


def _agree(project: Project, stored: pd.DataFrame) -> bool:
    """Every stored label is the true one of its row."""
    truth = project.truth.assign(row_key=project.truth["event_id"].astype(str)).set_index("row_key")["y"]
    expected = truth.loc[stored["row_key"]].to_numpy()
    if project.task == "binary":
        return (stored["label"].to_numpy() == expected.astype(int).astype(str)).all()
    return np.allclose(stored["label"].astype(float).to_numpy(), expected.astype(float))


@pytest.mark.parametrize(("task", "name", "writer", "outcome", "words"), list(_params()))
def test_each_kind_of_bad_label_file_fails_precisely_and_leaves_nothing_bad(
    projects, task, name, writer, outcome, words
):
    project = projects(task)
    index = [case_name(c) for c in CASES].index(name)
    good = project.truth.iloc[index * SLICE : (index + 1) * SLICE].reset_index(drop=True)
    assert _stored(project, good["event_id"]).empty  # each case has rows of its own
    path = writer(good, file_stem(project.folder.parent / "cases", name))

    result = invoke("labels", str(path), cwd=project.folder)
    assert result.exit_code == EXIT[outcome], (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    errors = _error_lines(result)
    if outcome == ACCEPTED:
        assert errors == [], result.stderr
    else:
        (line,) = errors  # one line, whatever the width
        for word in (str(path), *words):
            assert word in line, (word, line)

    if outcome in (UNREADABLE, REJECTED, UNKNOWN):  # the file itself is kept, unchanged
        kept = project.ws.root / "labels" / batch_id_of(content_hash(path))
        (copy,) = kept.glob("raw*")
        assert copy.read_bytes() == path.read_bytes()
    if outcome == REJECTED:
        folder = project.ws.root / "labels" / "quarantine" / kept.name
        assert line.endswith(f"not recorded, kept in {folder}")
        report = json.loads((folder / "report.json").read_text())
        assert report["message"] in line and report["raw"] == str(copy)
        assert report["rejected"] == len(pd.read_csv(folder / "rejected.csv")) > 0

    stored = _stored(project, good["event_id"])
    assert project.valid(project.labels_table()["label"])  # nothing bad anywhere in the labels table
    assert _agree(project, stored)  # what was recorded is each row's true label
    if outcome in (UNREADABLE, USAGE):
        assert stored.empty
    if outcome == ACCEPTED:  # all of them, but for the rows whose label was left empty
        assert len(stored) == (len(good) - int(len(good) * 0.2) if "empty" in name else len(good))

    again = invoke("labels", str(csv(good, path.with_name(f"{path.stem}-good"))), cwd=project.folder)
    assert again.exit_code == 0 and _error_lines(again) == [], again.stderr
    stored = _stored(project, good["event_id"])
    assert len(stored) == len(good) and _agree(project, stored)


def test_after_the_corpus_a_retrain_learns_from_the_late_labels_only(projects):
    """(The binary project only: a regression retrain costs another 20 s and the per-case checks
    already show its labels table holds finite numbers only.)"""
    project = projects("binary")
    everything = csv(project.truth, project.folder.parent / "all-labels")
    delivered = invoke("labels", str(everything), "--json", cwd=project.folder)
    assert delivered.exit_code == 0, delivered.stderr
    assert json.loads(delivered.stdout)["recorded"] == len(project.truth)
    table = project.labels_table()
    assert project.valid(table["label"]) and not table.duplicated(["batch_id", "row_key"]).any()

    retrained = invoke("retrain", "--reason", "after the label corpus", "--json", cwd=project.folder)
    assert retrained.exit_code == 0, retrained.stderr
    outcome = json.loads(retrained.stdout)
    assert outcome["status"] == "done", outcome
    window = project.ws.registry.get_version(outcome["gated_version"]).tags["driftline.window"].split(",")
    holdout = project.ws.registry.get_version(outcome["gated_version"]).tags["driftline.holdout"].split(",")
    assert project.batch_id in window + holdout


def test_the_real_command_prints_one_line_and_no_traceback(projects):
    """The in-process runner cannot see what Prefect's log handlers print: run the real command."""
    project = projects("binary")
    path = csv(project.truth.head(SLICE).drop(columns=["y"]), project.folder.parent / "no-target")
    done = driftline("labels", str(path), cwd=project.folder)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {path}: column 'y' is missing (rule: a label file needs the id column and the target)"
    ]
    assert "Traceback" not in done.stdout
