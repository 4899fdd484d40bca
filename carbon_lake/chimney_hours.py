"""The ``chimney_co2`` gold table (CO2 measured in chimneys, per sensor and UTC hour), kept
current day by day rather than rebuilt from the whole lake.

An hour's row integrates the intervals that start in it (:func:`chimney.integrate_hourly`), and
an interval ends at the sensor's next reading, however much later that is. So new readings on
some days change the hours of those days and of the days back to each sensor's reading before
them, and those intervals need the readings up to each sensor's next reading after them. For
each range of changed days this module reads that window only and replaces the hours it
starts; the table is then what integrating the whole lake gives (the tests compare the two).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timezone

import polars as pl

from carbon_lake import warehouse
from carbon_lake.chimney import ACTIVITIES, chimney_flows, combined, integrate_hourly, self_check
from carbon_lake.days import Days, DaySet
from carbon_lake.pipeline import StageResult, scan_silver
from carbon_lake.settings import Settings
from carbon_lake.site_data import load_site_data

TABLE = "chimney_co2"
COLUMNS = ["org", "site", "source_id", "event_id", "ts", "activity", "quantity"]  # what the physics reads
HOUR_KEY = ["org", "site", "source_id", "hour"]  # one row of the table
SELF_CHECK_TOLERANCE = 0.01  # 1%: float32 firmware arithmetic and rounded payloads stay far inside it


@dataclass(frozen=True)
class Window:
    """The days to read (``read``) to recompute exactly the hours of ``replace``."""

    read: Days
    replace: Days


def _chimney_rows(settings: Settings, days: DaySet | None = None) -> pl.LazyFrame:
    """The chimney activities' rows of silver (of ``days`` only, when given), a few columns each."""
    return scan_silver(settings, days).filter(pl.col("activity").is_in(ACTIVITIES))


def reading_days(settings: Settings) -> pl.DataFrame:
    """``(source_id, event_date, rows)``: on which days each chimney sensor reported, and how much."""
    return (_chimney_rows(settings).group_by("source_id", "event_date").agg(pl.len().alias("rows"))
            .collect(engine="streaming"))


def windows(reported: pl.DataFrame, days: DaySet) -> list[Window]:
    """One window per range of ``days``: back to the earliest of the sensors' last reading day
    before the range, forward to the latest of their first reading day after it (``reported``
    is :func:`reading_days`). A superset per sensor (one sensor's long silence widens
    everyone's window): exact, at worst slower."""
    found = []
    for span in days.ranges:
        before = (reported.filter(pl.col("event_date") < span.first).group_by("source_id")
                  .agg(pl.col("event_date").max())["event_date"].min())
        after = (reported.filter(pl.col("event_date") > span.last).group_by("source_id")
                 .agg(pl.col("event_date").min())["event_date"].max())
        first, last = before or span.first, after or span.last
        found.append(Window(read=Days(first, last), replace=Days(first, span.last)))
    return found


def _current(settings: Settings, site_data_version: str) -> bool:
    """Whether ``chimney_co2`` exists and every row of it was computed with this site data."""
    if not warehouse.has_table(settings.warehouse_path, TABLE):
        return False
    versions = warehouse.query(settings.warehouse_path, f"SELECT DISTINCT site_data_version FROM {TABLE}")
    return set(versions["site_data_version"].to_list()) <= {site_data_version}


def _hour_bounds(days: Days) -> tuple[datetime, datetime]:
    return (datetime.combine(days.first, time(), timezone.utc),
            datetime.combine(days.last, time(23, 59, 59, 999999), timezone.utc))


def silver_to_chimney_co2(settings: Settings, days: DaySet | None = None) -> StageResult:
    """Recompute ``chimney_co2`` for the hours that new readings on ``days`` change (every hour
    without ``days``, before the table exists or when the pinned site data changed), each row
    with the site-data version of the chimney geometry it was computed with.

    The days are done in pieces of about ``settings.chunk_rows`` chimney rows, each reading its
    window only, so a first run over years of chimney history holds a few days at a time. The
    details carry the self-check (:func:`self_check`) of the readings of those days, so the
    flows are computed once for both."""
    site_data = load_site_data(settings.factors_dir, settings.site_data_release)
    incremental = days is not None and _current(settings, site_data.version)  # new geometry: every hour again
    reported = reading_days(settings)
    rows = dict(reported.group_by("event_date").agg(pl.col("rows").sum()).iter_rows())
    todo = DaySet.of(days) if incremental else DaySet.of(Days(min(rows), max(rows))) if rows else None
    hourly, checks, replaced, flowing = [], [], set(), 0
    for piece in todo.split(rows, settings.chunk_rows) if todo else []:
        spans = windows(reported, piece)
        readings = _chimney_rows(settings, DaySet.of(d for w in spans for d in w.read.dates()))
        flows = chimney_flows(readings.select(COLUMNS).collect(engine="streaming"), site_data.chimneys)
        replaces = DaySet.of(d for w in spans for d in w.replace.dates())
        hourly.append(integrate_hourly(flows, settings.chimney_max_gap_seconds).filter(replaces.holds_ts("hour")))
        own = flows.filter(piece.holds_ts())
        checks.append(self_check(own, SELF_CHECK_TOLERANCE))
        flowing += own.height
        replaced.update(replaces.dates())
    if not hourly:  # no chimney readings at all: an empty table of the right columns
        nothing = _chimney_rows(settings).select(COLUMNS).head(0).collect()
        hourly.append(integrate_hourly(chimney_flows(nothing, site_data.chimneys), settings.chimney_max_gap_seconds))
    # neighbouring pieces both compute the hours between them, from the same readings: keep one
    hours = pl.concat(hourly).unique(subset=HOUR_KEY, keep="first").sort(HOUR_KEY)
    hours = hours.with_columns(pl.lit(site_data.version, pl.Utf8).alias("site_data_version"))
    if incremental:
        warehouse.replace_range(settings.warehouse_path, {TABLE: hours}, "hour",
                                [_hour_bounds(span) for span in DaySet.of(replaced).ranges])
    else:
        warehouse.replace_tables(settings.warehouse_path, {TABLE: hours})
    measured, gaps = float(hours["measured_s"].sum() or 0), float(hours["gap_s"].sum() or 0)
    return StageResult(
        rows_in=flowing, rows_out=hours.height, preview=hours.head(10),
        details={"hours_of": str(DaySet.of(replaced)) if incremental else "all days",
                 "co2_kg": float(hours["co2_kg"].sum() or 0.0), "measured_s": measured, "gap_s": gaps,
                 "coverage": measured / (measured + gaps) if measured + gaps else 0.0,
                 "max_gap_s": settings.chimney_max_gap_seconds, "site_data_version": site_data.version,
                 "self_check": combined(checks, SELF_CHECK_TOLERANCE)},
    )


def chimney_self_check(settings: Settings) -> dict[str, float | int]:
    """Agreement between the kg/s chimney nodes report and the pipeline's physics on every
    chimney reading of the lake (see :func:`chimney.self_check`)."""
    readings = _chimney_rows(settings).select(COLUMNS).collect(engine="streaming")
    site_data = load_site_data(settings.factors_dir, settings.site_data_release)
    return self_check(chimney_flows(readings, site_data.chimneys), SELF_CHECK_TOLERANCE)
