"""Reading batch files: every failure is one line naming the file and the rule."""

from __future__ import annotations

import pandas as pd
import pytest

from driftline.core.batch_io import BatchReadError, batch_id_of, content_hash, keep_raw, read_table


def test_csv_and_parquet_read_the_same(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    frame.to_csv(tmp_path / "f.csv", index=False)
    frame.to_parquet(tmp_path / "f.parquet", index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "f.csv"), read_table(tmp_path / "f.parquet"))


@pytest.mark.parametrize(
    ("name", "content", "rule"),
    [
        ("empty.csv", b"", "file is empty"),
        ("header.csv", b"a,b\n", "header but no rows"),
        ("blank.csv", b"\n\n", "no columns"),
        ("data.xlsx", b"PK\x03\x04", "unsupported format '.xlsx'"),
        ("bad.parquet", b"not parquet at all", "cannot be read as .parquet"),
        ("dup.csv", b"a,a\n1,2\n", "column 'a' appears more than once"),
    ],
)
def test_bad_files_give_one_line_naming_file_and_rule(tmp_path, name, content, rule):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BatchReadError) as info:
        read_table(path)
    message = str(info.value)
    assert rule in message and name in message and "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(BatchReadError, match="file not found"):
        read_table(tmp_path / "nope.csv")


def test_batch_id_is_content_hash_and_raw_copy_is_unchanged(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("a\n1\n")
    other = tmp_path / "same.csv"
    other.write_text("a\n1\n")
    assert batch_id_of(content_hash(src)) == batch_id_of(content_hash(other))
    kept = keep_raw(src, tmp_path / "store" / "b1", sha256=content_hash(src))
    assert kept.read_bytes() == src.read_bytes() and kept.name == "raw.csv"
    assert [p.name for p in kept.parent.iterdir()] == ["raw.csv"]  # no temporary file left


def test_a_partial_raw_copy_left_by_a_crash_is_replaced_not_trusted(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("a\n" + "\n".join(str(i) for i in range(400)) + "\n")
    store = tmp_path / "store" / "b1"
    store.mkdir(parents=True)
    (store / "raw.csv").write_bytes(src.read_bytes()[:120])  # what a crash mid-copy leaves
    kept = keep_raw(src, store, sha256=content_hash(src))
    assert kept.read_bytes() == src.read_bytes() and len(read_table(kept)) == 400


def test_a_copy_that_does_not_match_the_hash_raises_and_leaves_nothing(tmp_path):
    from driftline.core.batch_io import RawCopyError

    src = tmp_path / "in.csv"
    src.write_text("a\n1\n")
    with pytest.raises(RawCopyError, match="in.csv: its copy does not match"):
        keep_raw(src, tmp_path / "store" / "b1", sha256="0" * 64)
    assert list((tmp_path / "store" / "b1").iterdir()) == []


def test_labeled_predictions_attaches_labels_by_row_key_and_drops_unlabeled():
    from driftline.services.datasets import labeled_predictions

    champion = pd.DataFrame(
        {"batch_id": "b", "row_key": ["1", "2", "3"], "role": "champion", "score": [0.1, 0.2, 0.3]}
    )
    shadow = champion.assign(role="challenger", score=[0.9, 0.8, 0.7])
    labels = pd.DataFrame({"batch_id": "b", "row_key": ["3", "1"], "label": ["1", "0"]})
    joined = labeled_predictions([champion, shadow], labels)
    assert joined[["role", "row_key", "label"]].values.tolist() == [
        ["champion", "1", "0"],
        ["champion", "3", "1"],
        ["challenger", "1", "0"],
        ["challenger", "3", "1"],
    ]
    assert labeled_predictions([champion], labels.iloc[:0]).empty
