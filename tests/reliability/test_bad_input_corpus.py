"""The bad-input corpus: every kind of broken (or merely unusual) batch file a feed produces.

Each case runs through the real batch-cycle flow (real GE, Evidently, MLflow on SQLite) of one
project. A broken batch must be quarantined with a message that names the file, the column and
the rule, its raw copy kept; an unusual but valid one must be accepted. After the whole corpus, a
good batch is still accepted: nothing a bad batch did stays in the way.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.batch_cycle import batch_cycle
from tests.flows.project import build_project
from tests.reliability.corpus import as_param, case_name, csv, edit, parquet, raw, rows_of, setcol, text
from tests.streams import make_batch

pytestmark = pytest.mark.slow


def symlink_to_good(good: pd.DataFrame, path: Path) -> Path:
    target = csv(good, path.with_name(path.name + "-target"))
    link = path.with_suffix(".csv")
    os.symlink(target, link)
    return link


def gzipped(good: pd.DataFrame, path: Path) -> Path:
    out = path.with_suffix(".csv.gz")
    out.write_bytes(gzip.compress(good.to_csv(index=False).encode()))
    return out


def wide(good: pd.DataFrame, path: Path) -> Path:
    extra = pd.DataFrame(np.zeros((len(good), 500)), columns=[f"extra_{i}" for i in range(500)])
    return csv(pd.concat([good, extra], axis=1), path)


Q, A = "quarantined", "accepted"
# (name, writer, expected status, words the contract message must hold besides the file name)
CASES: list = [
    # --- files that are not a table -----------------------------------------------------------
    ("empty file", raw(b""), Q, ("empty",)),
    ("header only", text(lambda t: t.splitlines()[0] + "\n"), Q, ("no rows",)),
    ("binary garbage", raw(bytes(range(256)) * 40), Q, ()),
    ("NUL bytes only", raw(b"\0" * 4096), Q, ()),
    ("unsupported suffix", raw(b"a,b\n1,2\n", ".xlsx"), Q, ("unsupported format",)),
    ("parquet suffix on csv text", text(lambda t: t, ".parquet"), Q, ("cannot be read",)),
    (
        "truncated parquet",
        lambda g, p: raw(parquet(g, p).read_bytes()[:300], ".parquet")(g, p.with_name(p.name + "t")),
        Q,
        ("cannot be read",),
    ),  # noqa: E501
    ("utf-16 text", text(lambda t: t, encoding="utf-16"), Q, ()),
    ("semicolon delimiter", text(lambda t: t.replace(",", ";")), Q, ("columns",)),
    ("tab delimiter", text(lambda t: t.replace(",", "\t")), Q, ("columns",)),
    ("ragged rows: extra fields", text(lambda t: t.replace("\n", ",1,2\n", 40)), Q, ()),
    ("duplicate header", text(lambda t: t.replace("x1", "x0", 1)), Q, ("x0", "more than once")),
    # --- schema ---------------------------------------------------------------------------------
    ("missing feature column", edit(lambda f: f.drop(columns=["x0"])), Q, ("x0", "missing")),
    ("missing id column", edit(lambda f: f.drop(columns=["event_id"])), Q, ("event_id",)),
    ("extra column", edit(setcol("surprise", 1.0)), Q, ("surprise",)),
    ("renamed column", edit(lambda f: f.rename(columns={"x2": "x2_new"})), Q, ("x2",)),
    ("500 extra columns", wide, Q, ("extra_",)),
    ("column names upper-cased", edit(lambda f: f.rename(columns=str.upper)), Q, ()),
    # --- types ----------------------------------------------------------------------------------
    ("text in numeric column", edit(setcol("x1", "n/a")), Q, ("x1",)),
    ("30% text in numeric column", edit(rows_of(0.3, "x1", "oops")), Q, ("x1", "oops")),
    ("thousands separators", edit(setcol("x3", lambda f: (f["x3"] * 1e4).map("{:,.0f}".format))), Q, ("x3",)),
    (
        "decimal commas",
        edit(setcol("x3", lambda f: f["x3"].map(lambda v: f"{v:.3f}".replace(".", ",")))),
        Q,
        ("x3",),
    ),  # noqa: E501
    ("numbers in categorical column", edit(setcol("colour", lambda f: np.arange(len(f)))), Q, ("colour",)),
    ("bool in numeric column", edit(setcol("x4", lambda f: f["x4"] > 0)), Q, ("x4",)),
    (
        "ragged rows: missing fields",
        text(lambda t: t.replace(",y\n", "\n", 1).replace(",0\n", "\n", 30)),
        Q,
        (),
    ),
    ("unparseable timestamps", edit(setcol("ts", "yesterday")), Q, ("ts",)),
    ("some timestamps unparseable", edit(rows_of(0.2, "ts", "unknown")), Q, ("ts",)),
    # --- nulls ----------------------------------------------------------------------------------
    ("all-null feature", edit(setcol("x2", np.nan)), Q, ("x2",)),
    ("half-null feature", edit(rows_of(0.5, "x2", np.nan)), Q, ("x2",)),
    ("null ids", edit(rows_of(0.1, "event_id", np.nan)), Q, ("event_id",)),
    ("'NULL' strings in numeric column", edit(rows_of(0.5, "x0", "NULL")), Q, ("x0",)),
    # --- ids ------------------------------------------------------------------------------------
    (
        "duplicate ids",
        edit(setcol("event_id", lambda f: f["event_id"].where(f.index % 2 == 0).ffill())),
        Q,
        ("event_id",),
    ),
    ("one duplicated row", edit(lambda f: pd.concat([f, f.head(1)], ignore_index=True)), Q, ("event_id",)),
    # --- values: units, scale, impossible numbers ------------------------------------------------
    ("x1000 unit change", edit(setcol("x0", lambda f: f["x0"] * 1000)), Q, ("x0",)),
    ("x25.4 (inch to mm)", edit(setcol("x1", lambda f: f["x1"] * 25.4 + 100)), Q, ("x1",)),
    ("celsius to fahrenheit", edit(setcol("x2", lambda f: f["x2"] * 1.8 + 32)), Q, ("x2",)),
    ("infinities", edit(rows_of(0.2, "x3", np.inf)), Q, ("x3",)),
    ("1e308 values", edit(rows_of(0.2, "x3", 1e308)), Q, ("x3",)),
    ("negative infinities", edit(rows_of(0.2, "x4", -np.inf)), Q, ("x4",)),
    # --- label trouble (labels are checked apart: the batch itself is fine) ---------------------
    ("unseen class in the target", edit(rows_of(0.1, "y", 2)), A, ()),
    ("yes/no target", edit(setcol("y", lambda f: f["y"].map({0: "no", 1: "yes"}))), A, ()),
    ("target all null", edit(setcol("y", np.nan)), A, ()),
    ("no target column", edit(lambda f: f.drop(columns=["y"])), A, ()),
    # --- unusual but valid ----------------------------------------------------------------------
    ("utf-8 BOM", text(lambda t: "\ufeff" + t), A, ()),
    ("CRLF line ends", text(lambda t: t.replace("\n", "\r\n")), A, ()),
    ("quoted fields", lambda g, p: csv(g, p, quoting=1), A, ()),
    ("columns in another order", edit(lambda f: f[list(reversed(f.columns))]), A, ()),
    ("gzipped csv", gzipped, A, ()),
    ("symlink to a good file", symlink_to_good, A, ()),
    (
        "parquet float32 features",
        edit(lambda f: f.astype({"x0": "float32", "x1": "float32"}), parquet),
        A,
        (),
    ),
    ("parquet int32 target", edit(lambda f: f.astype({"y": "int32"}), parquet), A, ()),
    (
        "parquet category dtype",
        edit(lambda f: f.astype({"colour": "category", "size": "category"}), parquet),
        A,
        (),
    ),
    (
        "parquet string dtype",
        edit(lambda f: f.astype({"colour": "string", "size": "string"}), parquet),
        A,
        (),
    ),
    ("parquet nullable Int64 target", edit(lambda f: f.astype({"y": "Int64"}), parquet), A, ()),
    ("csv timestamps as text", edit(lambda f: f.assign(ts=f["ts"].astype(str))), A, ()),
    ("one row", edit(lambda f: f.head(1)), A, ()),
    ("a few missing values", edit(rows_of(0.01, "x0", np.nan)), A, ()),
    ("unseen category value", edit(rows_of(0.02, "colour", "purple")), A, ()),
    (
        "a category value with markup",
        edit(rows_of(0.01, "colour", "</script><script>alert(1)</script>")),
        A,
        (),
    ),
    ("very long text value", edit(rows_of(0.01, "size", "L" * 10_000)), A, ()),
    ("a constant feature", edit(setcol("x4", 0.5)), A, ()),
    ("mild covariate shift", edit(setcol("x0", lambda f: f["x0"] + 0.8)), A, ()),
    ("integer-valued floats", edit(lambda f: f.assign(x0=f["x0"].round())), A, ()),
]


@pytest.fixture(scope="module")
def project(prefect_harness, tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return build_project(root), root


def test_the_corpus_has_at_least_sixty_kinds():
    assert len(CASES) >= 60 and len({case_name(c) for c in CASES}) == len(CASES)


@pytest.mark.parametrize(("writer", "expected", "words"), [as_param(c) for c in CASES])
def test_each_kind_of_bad_input_is_quarantined_with_a_precise_message_or_accepted(
    project, request, writer, expected, words
):
    ws, root = project
    case = request.node.callspec.id
    seed = 10_000 + [case_name(c) for c in CASES].index(case)
    good = make_batch(400, seed=seed, start=seed * 1000)
    folder = root / "cases"
    folder.mkdir(exist_ok=True)
    path = writer(good, folder / case.replace(" ", "_").replace("/", "_"))
    outcome = batch_cycle(
        path=str(path), config_path=str(ws.config.base_dir / "driftline.yaml"), allow_retrain=False
    )
    assert outcome["status"] == expected, outcome.get("contract")
    batch = ws.state.get_batch(outcome["batch_id"])
    assert batch is not None and Path(batch.raw_path).is_file()  # the original is kept either way
    if expected == Q:
        failures = [f for f in outcome["contract"]["failures"] if f["severity"] == "block"]
        text = " ".join(f["message"] for f in failures) + " " + " ".join(str(f["column"]) for f in failures)
        assert failures and all(f["rule"] for f in failures)
        for word in words:
            assert word in text, (word, text)
        report = ws.quarantine_dir(outcome["batch_id"]) / "report.html"
        assert report.is_file() and Path(batch.raw_path).parent == report.parent
    else:
        assert batch.stage == "done"


def test_after_the_corpus_a_good_batch_is_still_accepted_and_scored(project):
    ws, root = project
    good = make_batch(600, seed=99_999, start=99_999_000)
    path = csv(good, root / "good-after-corpus")
    outcome = batch_cycle(
        path=str(path), config_path=str(ws.config.base_dir / "driftline.yaml"), allow_retrain=False
    )
    assert outcome["status"] == "accepted" and outcome["scoring"]["rows_scored"] == 600
    assert ws.state.unfinished_batches() == []
