"""Wall time per stage of one batch cycle, and the rows per second each stage sustained."""

from __future__ import annotations

import time

from driftline.core.progress import report


class StageClock:
    """Call `lap(stage)` when a stage ends; the time since the previous lap is that stage's."""

    def __init__(self, rows: int = 0) -> None:
        self.rows = rows
        self.seconds: dict[str, float] = {}
        self._started = self._last = time.perf_counter()

    def lap(self, stage: str) -> None:

        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now
        report(f"{stage} done in {self.seconds[stage]:.1f} s")

    def metrics(self) -> dict[str, float]:
        """``cycle_seconds`` so far, ``stage_seconds.<stage>`` and ``rows_per_second.<stage>``."""
        out = {"cycle_seconds": time.perf_counter() - self._started}
        for stage, seconds in self.seconds.items():
            out[f"stage_seconds.{stage}"] = seconds
            if self.rows and seconds > 0:
                out[f"rows_per_second.{stage}"] = self.rows / seconds
        return out
