"""The retrain policy's "labeled rows since the last retrain" counts labels by when they arrived."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from driftline.store.state import StateStore


def _batch(store: StateStore, batch_id: str, status: str = "accepted") -> int:
    return store.add_batch(
        batch_id=batch_id, sha256=batch_id, source=f"{batch_id}.csv", raw_path="p", status=status, rows=3
    )


def _labels(store: StateStore, batch_id: str, n: int) -> None:
    frame = pd.DataFrame(
        {"batch_id": [batch_id] * n, "row_key": [f"{batch_id}-{i}" for i in range(n)], "label": ["1"] * n}
    )
    store.record_labels(frame)


def test_late_labels_of_a_batch_older_than_the_retrain_are_new_to_the_policy(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    _batch(store, "b1")
    _labels(store, "b1", 3)
    _batch(store, "b2")
    _batch(store, "bad", status="quarantined")
    assert store.labels_since_last_retrain() == 3  # no retrain yet: every label of an accepted batch

    store.record_retrain(after_seq=_batch(store, "b3"), version="2", promoted=True, trigger="drift")
    assert store.labels_since_last_retrain() == 0  # b1's labels were there when it trained

    _labels(store, "b2", 2)  # b2 came before the retrain, its labels after (a label lag)
    _labels(store, "b3", 3)
    _labels(store, "bad", 4)  # a quarantined batch is never trained on
    assert store.labels_since_last_retrain() == 5

    store.record_retrain(after_seq=_batch(store, "b4"), version="3", promoted=False, trigger="drift")
    assert store.labels_since_last_retrain() == 0
