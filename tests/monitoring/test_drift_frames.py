"""Preparing frames for the drift comparison."""

from __future__ import annotations


def test_sampling_before_attaching_scores_picks_the_rows_the_drift_stage_would() -> None:
    import numpy as np
    import pandas as pd

    from monitoring.drift_frames import sample, sampled_with_scores

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"x": rng.normal(size=5000), "c": rng.choice(list("abc"), 5000)}, index=rng.permutation(5000)
    )
    scores = rng.uniform(size=5000)
    old = sample(frame.assign(s=scores), max_rows=700, seed=11)
    new = sampled_with_scores(frame, scores, column="s", max_rows=700, seed=11)
    pd.testing.assert_frame_equal(new, old)
    small = sampled_with_scores(frame.head(300), scores[:300], column="s", max_rows=700, seed=11)
    assert len(small) == 300 and (small["s"].to_numpy() == scores[:300]).all()
