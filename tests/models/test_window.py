"""Training-window selection: skipping, holdout isolation, sizes, duration and expanding windows."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from models.window import BatchRef, select_window


def _batches(count: int, *, rows: int = 300, status: dict[int, str] | None = None) -> list[BatchRef]:
    """Weekly batches b0..b{count-1}, received in order."""
    start = pd.Timestamp("2024-01-01")
    return [
        BatchRef(
            batch_id=f"b{i}",
            received_order=i,
            rows=rows,
            labeled_rows=rows,
            start_time=start + pd.Timedelta(weeks=i),
            end_time=start + pd.Timedelta(weeks=i, days=6),
            status=(status or {}).get(i, "accepted"),
        )
        for i in range(count)
    ]


def _ids(batches: tuple[BatchRef, ...]) -> list[str]:
    return [b.batch_id for b in batches]


def test_default_window_holds_out_newest() -> None:
    sel = select_window(list(reversed(_batches(10))))  # input order does not matter
    assert sel.ok
    assert _ids(sel.holdout) == ["b9"]
    assert _ids(sel.train) == ["b3", "b4", "b5", "b6", "b7", "b8"]
    assert sel.train_rows == 1800 and sel.holdout_rows == 300
    assert "6 training batch(es) (1800 labeled rows" in sel.reason


def test_quarantined_and_unlabeled_batches_are_skipped() -> None:
    batches = _batches(6, status={5: "quarantined", 2: "rejected"})
    unlabeled = BatchRef("b6", 6, 100, 0, None, None, "accepted")
    sel = select_window([*batches, unlabeled], n_batches=None)
    assert _ids(sel.holdout) == ["b4"]
    assert _ids(sel.train) == ["b0", "b1", "b3"]
    assert "3 batch(es) skipped" in sel.reason


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"expanding": True}, {"holdout_batches": 3}, {"n_batches": 2}, {"duration": "30D"}],
)
def test_holdout_never_in_train(kwargs: dict) -> None:
    sel = select_window(_batches(9), **kwargs)
    assert not set(_ids(sel.train)) & set(_ids(sel.holdout))
    assert max(b.received_order for b in sel.train) < min(b.received_order for b in sel.holdout)


def test_too_little_data_is_a_readable_result() -> None:
    single = select_window(_batches(1))
    assert not single.ok and single.train == ()
    assert "1 usable batch(es), need more than 1" in single.reason

    small = select_window(_batches(3, rows=100), min_train_rows=500, min_holdout_rows=200)
    assert not small.ok
    assert small.reason.startswith("training has 200 labeled rows, need 500; holdout has 100")

    none = select_window(_batches(4, status={i: "quarantined" for i in range(4)}))
    assert not none.ok and "0 usable" in none.reason


def test_duration_window_counts_back_from_newest_training_batch() -> None:
    batches = _batches(10)
    sel = select_window(batches, n_batches=None, duration="21D")
    # newest training batch b8 ends 2024-03-03; 21 days back keeps ends after 2024-02-11 (b5's)
    assert _ids(sel.train) == ["b6", "b7", "b8"]
    both = select_window(batches, n_batches=2, duration="21D", min_train_rows=0)
    assert _ids(both.train) == ["b7", "b8"]
    assert "within 21D" in both.reason
    weeks = select_window(batches, n_batches=None, duration="2W", min_train_rows=0)
    assert _ids(weeks.train) == ["b7", "b8"]  # 2 weeks back from b8's end is b6's end: excluded


def test_duration_drops_batches_without_times() -> None:
    batches = _batches(5)
    untimed = BatchRef("u", 2, 300, 300, None, None, "accepted")
    batches[2] = untimed
    sel = select_window(batches, n_batches=None, duration="365D", min_train_rows=0)
    assert "u" not in _ids(sel.train) and _ids(sel.train) == ["b0", "b1", "b3"]


def test_expanding_takes_all_history() -> None:
    sel = select_window(_batches(12), expanding=True, n_batches=2, duration="7D")
    assert _ids(sel.train) == [f"b{i}" for i in range(11)]
    assert "expanding" in sel.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_batches": 0}, "n_batches=0"),
        ({"holdout_batches": 0}, "holdout_batches=0"),
        ({"duration": "fortnight"}, "duration='fortnight'"),
        ({"duration": "-5D"}, "must be positive"),
        ({"min_train_rows": -1}, "minimum row counts"),
    ],
)
def test_invalid_arguments_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select_window(_batches(3), **kwargs)


def test_selection_is_json_safe() -> None:
    data = select_window(_batches(8)).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["holdout"][0]["end_time"] == "2024-02-25T00:00:00"


def test_small_batches_extend_the_window_back_to_min_train_rows() -> None:
    sel = select_window(_batches(20, rows=60), n_batches=6, min_train_rows=500, min_holdout_rows=50)
    assert sel.ok and sel.holdout_tail_rows is None
    assert _ids(sel.holdout) == ["b19"] and len(sel.train) == 9  # 9 × 60 = 540 ≥ 500
    assert sel.train_rows == 540 and "3 more to reach 500 rows" in sel.reason


def test_two_small_warmup_batches_hold_out_rows_instead() -> None:
    """288 then 672 rows: holding out the 672 leaves 288 to train on; rows are held out instead."""
    refs = _batches(2)
    refs = [
        BatchRef(**{**r.__dict__, "rows": n, "labeled_rows": n})
        for r, n in zip(refs, (288, 672), strict=True)
    ]
    sel = select_window(refs, min_train_rows=500, min_holdout_rows=200)
    assert sel.ok and sel.holdout_tail_rows == 460
    assert (sel.train_rows, sel.holdout_rows) == (500, 460)
    assert "newest 460 rows are the holdout" in sel.reason
    assert json.loads(json.dumps(sel.to_dict()))["holdout_tail_rows"] == 460


def test_too_little_in_total_is_still_not_enough() -> None:
    sel = select_window(_batches(3, rows=100), min_train_rows=500, min_holdout_rows=200)
    assert not sel.ok and sel.holdout_tail_rows is None
    assert "training has 200 labeled rows, need 500" in sel.reason
