"""Warehouse reads for the analyst app: read-only, parameterised, briefly cached.

Every page load reads one consistent snapshot of ``warehouse.duckdb``: all queries of a load
go through a single read-only connection (:func:`carbon_lake.warehouse.connect`), because a
materialization replaces the file by renaming a new copy over it, and two separate
connections could otherwise see two different runs. Totals come from the ``emissions`` line
items rather than ``scope_totals``: both are gold tables, but ``scope_totals`` is monthly
(too coarse for the trend) and is written after ``emissions`` in a run, so using one table
keeps headline, bars and trend adding up to the same number.

Results are cached with :func:`st.cache_data` for a few seconds and keyed on the file's
identity (mtime and inode), so a new materialization shows up on the next rerun.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import streamlit as st

from carbon_lake import warehouse
from carbon_lake.rules import IN_INVENTORY_SQL_PARAM
from carbon_lake.settings import Settings

CACHE_TTL_SECONDS = 5
# Up to this span of data the trend is hourly, beyond it daily.
HOURLY_UP_TO = timedelta(days=3)

# Filters are lists bound as parameters; NULL means "no filter" (an empty multiselect = all).
# Scope 2 readings have a location-based and a market-based row: an inventory sums one method.
_WHERE = (
    "($orgs IS NULL OR list_contains($orgs::VARCHAR[], org))"
    " AND ($sites IS NULL OR list_contains($sites::VARCHAR[], site))"
    f" AND {IN_INVENTORY_SQL_PARAM}"
)

FileVersion = tuple[int, int]


@dataclass(frozen=True)
class Headline:
    """The page's headline numbers, in kg (the warehouse's unit); the page converts to tonnes."""

    co2e_kg: float
    scope_kg: dict[int, float]
    biogenic_co2_kg: float
    readings: int
    line_items: int
    quarantined: int | None  # None when the quarantine table is not published yet


@dataclass(frozen=True)
class Snapshot:
    """Everything the home page shows, read from one version of the warehouse."""

    headline: Headline
    by_scope: pl.DataFrame  # scope, co2e_kg
    by_site: pl.DataFrame  # org, site, scope, co2e_kg
    trend: pl.DataFrame  # bucket (UTC, naive), scope, co2e_kg
    bucket: str  # "hour" or "day"
    releases: pl.DataFrame  # factor_release, factors_used, line_items, co2e_kg, first_ts, last_ts
    factors_used: pl.DataFrame  # factor_release, factor_id, activity, region, factor_value, unit, ...
    quality: pl.DataFrame = field(default_factory=pl.DataFrame)  # kind, code, rows, co2e_kg: quarantine and fallbacks
    missing_tables: tuple[str, ...] = field(default=())


def warehouse_path() -> Path:
    """The warehouse of the lake that ``CARBON_LAKE_HOME`` names, as every entry point sees it."""
    return Settings.from_env().warehouse_path


def file_version(path: Path) -> FileVersion | None:
    """``(mtime_ns, inode)`` of the warehouse file, or None when there is none yet.

    A materialization renames a new file over the old one, which changes both, so this is a
    cheap cache key that changes exactly when there is something new to read.
    """
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_ino


def choose_bucket(first: Any, last: Any) -> str:
    """Hourly buckets for a short span of data, daily ones otherwise."""
    if first is None or last is None:
        return "hour"
    return "hour" if last - first <= HOURLY_UP_TO else "day"


def zero_fill(trend: pl.DataFrame, bucket: str) -> pl.DataFrame:
    """Every bucket between the first and last, for every scope, with 0 where nothing was emitted.

    Without this a line chart draws a straight line across days without readings, as if
    there had been emissions on them.
    """
    if trend.is_empty():
        return trend
    every = pl.datetime_range(trend["bucket"].min(), trend["bucket"].max(), interval=f"1{bucket[0]}",
                              time_unit="us", eager=True).alias("bucket")
    grid = every.to_frame().join(trend.select("scope").unique(), how="cross")
    return (
        grid.join(trend.with_columns(pl.col("bucket").cast(pl.Datetime("us"))), on=["bucket", "scope"], how="left")
        .with_columns(pl.col("co2e_kg").fill_null(0.0))
        .sort("bucket", "scope")
    )


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """A query's result as a Polars frame (through a relation: no extra Arrow copy)."""
    return con.sql(sql, params=params).pl()


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def filter_options(path: str, version: FileVersion) -> pl.DataFrame:
    """Distinct ``(org, site)`` pairs with emissions, for the sidebar filters.

    ``version`` is unused in the body: it is part of the cache key.
    """
    with warehouse.connect(Path(path)) as con:
        if "emissions" not in _tables(con):
            return pl.DataFrame(schema={"org": pl.Utf8, "site": pl.Utf8})
        return _frame(con, "SELECT DISTINCT org, site FROM emissions ORDER BY org, site")


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner="Reading the warehouse…")
def load_snapshot(path: str, version: FileVersion, orgs: tuple[str, ...], sites: tuple[str, ...],
                  method: str = "location") -> Snapshot:
    """The home page's numbers for the selected orgs and sites (empty tuple = all), scope 2 by ``method``."""
    params = {"orgs": list(orgs) or None, "sites": list(sites) or None, "method": method}
    with warehouse.connect(Path(path)) as con:
        present = _tables(con)
        missing = tuple(t for t in ("emissions", "quarantine", "factors") if t not in present)
        if "emissions" in missing:
            return _empty_snapshot(missing)

        head = con.execute(
            f"""
            SELECT coalesce(sum(co2e_kg), 0),
                   coalesce(sum(co2e_kg) FILTER (WHERE scope = 1), 0),
                   coalesce(sum(co2e_kg) FILTER (WHERE scope = 2), 0),
                   coalesce(sum(co2e_kg) FILTER (WHERE scope = 3), 0),
                   coalesce(sum(biogenic_co2_kg), 0),
                   count(DISTINCT (source_id, event_id)),
                   count(*),
                   min(ts), max(ts)
            FROM emissions WHERE {_WHERE}
            """,
            params,
        ).fetchall()[0]  # fetch to the end: DuckDB refuses new work while a result is unfinished
        total, s1, s2, s3, biogenic, readings, line_items, first_ts, last_ts = head
        quarantined = None
        if "quarantine" in present:
            quarantined = con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0]

        by_scope = _frame(
            con,
            f"SELECT scope, sum(co2e_kg) AS co2e_kg FROM emissions WHERE {_WHERE} GROUP BY scope ORDER BY scope",
            params,
        )
        by_site = _frame(
            con,
            f"""SELECT org, site, scope, sum(co2e_kg) AS co2e_kg FROM emissions WHERE {_WHERE}
                GROUP BY org, site, scope ORDER BY org, site, scope""",
            params,
        )
        bucket = choose_bucket(first_ts, last_ts)
        trend = _frame(
            con,
            f"""SELECT date_trunc($bucket, ts AT TIME ZONE 'UTC') AS bucket, scope, sum(co2e_kg) AS co2e_kg
                FROM emissions WHERE {_WHERE} GROUP BY ALL ORDER BY bucket, scope""",
            {**params, "bucket": bucket},
        )
        trend = zero_fill(trend, bucket)
        releases = _frame(
            con,
            f"""SELECT factor_release, count(DISTINCT factor_id) AS factors_used, count(*) AS line_items,
                       sum(co2e_kg) AS co2e_kg, min(ts) AS first_ts, max(ts) AS last_ts
                FROM emissions WHERE {_WHERE} GROUP BY factor_release ORDER BY factor_release""",
            params,
        )
        factors_used = _frame(con, _factors_used_sql("factors" in present), params)
        quality = _frame(con, _QUALITY_SQL + (_QUARANTINE_BY_CODE_SQL if "quarantine" in present else "")
                         + " ORDER BY kind, rows DESC, code", params)

    return Snapshot(
        headline=Headline(
            co2e_kg=float(total), scope_kg={1: float(s1), 2: float(s2), 3: float(s3)},
            biogenic_co2_kg=float(biogenic), readings=int(readings), line_items=int(line_items),
            quarantined=None if quarantined is None else int(quarantined),
        ),
        by_scope=by_scope, by_site=by_site, trend=trend, bucket=bucket, releases=releases,
        factors_used=factors_used, quality=quality, missing_tables=missing,
    )


# What an auditor asks first: lines priced at a coarser region than the reading's (per fallback
# kind), lines on another GWP basis than their release, and rejected rows per reason code.
_QUALITY_SQL = f"""
    SELECT 'factor fallback' AS kind, factor_fallback AS code, count(*) AS rows, sum(co2e_kg) AS co2e_kg
    FROM emissions WHERE {_WHERE} AND factor_fallback IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT 'GWP basis' AS kind, coalesce(gwp_basis, 'unknown') AS code, count(*), sum(co2e_kg)
    FROM emissions WHERE {_WHERE} GROUP BY ALL"""
_QUARANTINE_BY_CODE_SQL = """
    UNION ALL
    SELECT 'quarantine: ' || stage AS kind, coalesce(reason_code, 'none') AS code, count(*), NULL
    FROM quarantine GROUP BY ALL"""


def _factors_used_sql(with_citation: bool) -> str:
    """Factors applied to the selection, with their citation when the ``factors`` table is there."""
    used = f"""
        WITH used AS (
            SELECT factor_release, factor_id, activity, string_agg(DISTINCT region, ', ') AS regions,
                   factor_value, unit, count(*) AS line_items, sum(co2e_kg) AS co2e_kg
            FROM emissions WHERE {_WHERE}
            GROUP BY factor_release, factor_id, activity, factor_value, unit
        )"""
    if not with_citation:
        return used + """
        SELECT *, NULL AS source_authority, NULL AS license FROM used ORDER BY factor_release, factor_id"""
    return used + """
        SELECT used.*, f.source_authority, f.license
        FROM used LEFT JOIN factors f ON f.release = used.factor_release AND f.factor_id = used.factor_id
        ORDER BY used.factor_release, used.factor_id"""


def _empty_snapshot(missing: tuple[str, ...]) -> Snapshot:
    """What a warehouse without an ``emissions`` table (a run still in progress) reads as."""
    kg = pl.Float64
    return Snapshot(
        headline=Headline(0.0, {1: 0.0, 2: 0.0, 3: 0.0}, 0.0, 0, 0, None),
        by_scope=pl.DataFrame(schema={"scope": pl.Int8, "co2e_kg": kg}),
        by_site=pl.DataFrame(schema={"org": pl.Utf8, "site": pl.Utf8, "scope": pl.Int8, "co2e_kg": kg}),
        trend=pl.DataFrame(schema={"bucket": pl.Datetime("us"), "scope": pl.Int8, "co2e_kg": kg}),
        bucket="hour",
        releases=pl.DataFrame(schema={"factor_release": pl.Utf8, "factors_used": pl.Int64, "line_items": pl.Int64,
                                      "co2e_kg": kg, "first_ts": pl.Datetime("us", "UTC"),
                                      "last_ts": pl.Datetime("us", "UTC")}),
        factors_used=pl.DataFrame(schema={"factor_release": pl.Utf8, "factor_id": pl.Utf8, "co2e_kg": kg}),
        missing_tables=missing,
    )
