"""The flow's stages as plain functions: landing -> bronze -> silver -> emissions -> gold.

Each stage reads the one before it, writes its own tables and returns what it did, so the
Dagster assets are a line each and the numbers they report are the ones the stage computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pyarrow as pa

from carbon_lake import warehouse
from carbon_lake.bronze import parse_landing_files
from carbon_lake.chimney import chimney_flows, integrate_hourly, load_chimneys, self_check
from carbon_lake.contracts import (BRONZE_SCHEMA, EMISSIONS_COLUMNS, FIRST_EVENT_DATE, QUARANTINE_SCHEMA,
                                   SILVER_SCHEMA)
from carbon_lake.days import Days, contiguous, event_date
from carbon_lake.emissions import LOCATION_OR_ALL, MARKET_OR_ALL, apply_factors, scope_totals
from carbon_lake.factors import all_factors, load_release
from carbon_lake.kpis import parse_weights, sustainability_score, vertical_kpis
from carbon_lake.lake import read_table, replace_days, scan_table, table_version, write_table
from carbon_lake.landing import list_landing_files
from carbon_lake.quarantine import STAGES, quarantine_frame, reasons, with_raw
from carbon_lake.settings import Settings
from carbon_lake.silver import KEY, to_silver

LEDGER_SCHEMA = pa.schema(
    [("landing_file", pa.string()), ("bronze_rows", pa.int64()), ("rejected", pa.int64()),
     ("processed_at", pa.timestamp("us", tz="UTC")), ("event_dates", pa.list_(pa.date32()))]
)


@dataclass(frozen=True)
class Tables:
    """Paths of the lake's Delta tables, derived from the settings."""

    settings: Settings

    @property
    def bronze(self) -> Path:
        return self.settings.bronze_dir / "readings"

    @property
    def ledger(self) -> Path:
        return self.settings.bronze_dir / "landing_files"

    @property
    def silver(self) -> Path:
        return self.settings.silver_dir / "readings"

    def quarantine(self, stage: str) -> Path:
        return self.settings.quarantine_dir / stage


@dataclass
class StageResult:
    rows_in: int
    rows_out: int
    quarantined: dict[str, int] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)
    preview: pl.DataFrame | None = None
    output: pl.DataFrame | None = None  # the rows written, for the checks that validate them


def read_ledger(settings: Settings) -> pl.DataFrame:
    """One row per parsed landing file: rows, rejects, when it was parsed and the days it holds."""
    return read_table(Tables(settings).ledger, LEDGER_SCHEMA)


def unparsed_landing_files(settings: Settings) -> list[str]:
    """Complete landing files the ledger does not list yet, oldest name first.

    A set difference, not a "newer than" cursor: a file that lands with an older name (another
    host's clock, an upload) is still found."""
    done = set(read_ledger(settings)["landing_file"].to_list())
    return [f for f in list_landing_files(settings.home) if f not in done]


def land_to_bronze(settings: Settings) -> StageResult:
    """Parse every landing file not parsed before; append rows, rejects and the ledger.

    Bronze is kept by landing file, not by event day: which days a file holds is only known
    once it is parsed. The ledger records those days, and they are what the day partitions
    downstream are run for.
    """
    tables = Tables(settings)
    new_files = unparsed_landing_files(settings)
    parsed, rejected, statuses = parse_landing_files(settings.home, new_files)
    bronze, out_of_range = _partitionable(parsed)
    if not out_of_range.is_empty():
        rejected = pl.concat([rejected, quarantine_frame("bronze", with_raw(settings.home, out_of_range))])
    if new_files:
        write_table(tables.bronze, bronze, BRONZE_SCHEMA, "append")
        if not rejected.is_empty():
            write_table(tables.quarantine("bronze"), rejected, QUARANTINE_SCHEMA, "append")
        per_file = bronze.group_by("landing_file").agg(pl.len().alias("bronze_rows"),
                                                       event_date().unique().sort().alias("event_dates"))
        ledger = (
            pl.DataFrame({"landing_file": new_files})
            .join(per_file, on="landing_file", how="left")
            .join(rejected.group_by("landing_file").len().rename({"len": "rejected"}), on="landing_file", how="left")
            .select("landing_file", pl.col("bronze_rows").fill_null(0), pl.col("rejected").fill_null(0),
                    pl.lit(datetime.now(timezone.utc)).alias("processed_at"), "event_dates")
        )
        write_table(tables.ledger, ledger, LEDGER_SCHEMA, "append")
    days = sorted(bronze.select(event_date().unique())["event_date"].to_list())
    return StageResult(
        rows_in=len(new_files), rows_out=bronze.height, quarantined=reasons(rejected),
        details={"new_landing_files": len(new_files), "status_messages": statuses,
                 "event_days": len(days), "event_day_ranges": [str(r) for r in contiguous(days)][:50],
                 "bronze_version": table_version(tables.bronze)},
        preview=bronze.head(10),
    )


def _partitionable(bronze: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(rows with a day partition, rows dated before the first or after tomorrow with a reason)``."""
    last = datetime.now(timezone.utc).date() + timedelta(days=1)
    inside = Days(FIRST_EVENT_DATE, last).holds_ts().fill_null(False)  # no row falls between the two
    outside = bronze.filter(~inside).with_columns(
        pl.format("ts: expected a time between {} and {} (UTC), got {}", pl.lit(str(FIRST_EVENT_DATE)),
                  pl.lit(str(last)), pl.col("ts").cast(pl.Utf8).fill_null("none")).alias("reason"))
    return bronze.filter(inside), outside


def bronze_to_silver(settings: Settings, days: Days) -> StageResult:
    """Silver for ``days``: deduplicated, validated, canonical units; other days are untouched.

    The first landed copy of a reading wins across all days: copies of the same
    ``(source_id, event_id)`` dated on other days are read too (key columns prune the scan), so
    a reused id is quarantined in whichever day holds the later copy.
    """
    tables = Tables(settings)
    bronze = scan_table(tables.bronze, BRONZE_SCHEMA)
    on_days = bronze.filter(days.holds_ts()).collect()
    # Copies dated on other days: found through the key columns alone, then read whole (rarely any).
    elsewhere = bronze.filter(~days.holds_ts())
    reused = elsewhere.select(KEY).join(on_days.lazy().select(KEY).unique(), on=KEY, how="semi").unique().collect()
    related = pl.concat([on_days, elsewhere.join(reused.lazy(), on=KEY, how="semi").collect()]) if reused.height \
        else on_days
    silver, rejected, duplicates = to_silver(related, settings.factors_dir)
    silver = silver.filter(days.holds_ts())
    rejected = rejected.filter(days.holds_ts()).with_columns(event_date())
    replace_days(tables.quarantine("silver"), quarantine_frame("silver", with_raw(settings.home, rejected)),
                 QUARANTINE_SCHEMA, days)
    version = replace_days(tables.silver, silver, SILVER_SCHEMA, days)
    return StageResult(
        rows_in=on_days.height, rows_out=silver.height, quarantined=reasons(rejected),
        details={"days": str(days), "duplicates_absorbed": duplicates,
                 "readings_by_day": _by_day(silver, pl.len()),
                 "bronze_version": table_version(tables.bronze), "silver_version": version},
        preview=silver.head(10), output=silver,
    )


def read_silver(settings: Settings, days: Days | None = None) -> pl.DataFrame:
    """Silver readings, of ``days`` only when given (partition pruning reads just those files)."""
    scan = scan_table(Tables(settings).silver, SILVER_SCHEMA)
    return (scan if days is None else scan.filter(days.holds_ts())).collect()


def silver_to_emissions(settings: Settings, days: Days) -> StageResult:
    """Apply the pinned factor release to silver of ``days``; replace those days of ``emissions``
    and ``factor_coverage`` in the warehouse."""
    tables = Tables(settings)
    release = load_release(settings.factors_dir, settings.factor_release)
    silver = read_silver(settings, days)
    priced = apply_factors(silver, release, settings.factors_dir)
    written = priced.emissions.select(EMISSIONS_COLUMNS)
    replace_days(tables.quarantine("emissions"),
                 quarantine_frame("emissions", with_raw(settings.home, priced.unmatched.with_columns(event_date()))),
                 QUARANTINE_SCHEMA, days)
    warehouse.replace_range(settings.warehouse_path, {"emissions": written,
                                                      "factor_coverage": priced.coverage},
                            "event_date", days.first, days.last)
    location = written.filter(LOCATION_OR_ALL)
    return StageResult(
        rows_in=silver.height, rows_out=priced.emissions.height, quarantined=reasons(priced.unmatched),
        details={"days": str(days), "factor_release": release.version, "gwp_basis": release.gwp_basis,
                 "silver_version": table_version(tables.silver),
                 "co2e_kg_location": float(location["co2e_kg"].sum() or 0.0),
                 "co2e_kg_market": float(written.filter(MARKET_OR_ALL)["co2e_kg"].sum() or 0.0),
                 "co2e_kg_by_day": _by_day(location, pl.col("co2e_kg").sum()),  # location: nothing twice
                 "factor_coverage": _coverage_share(priced.coverage)},
        preview=written.head(10), output=written,
    )


def _by_day(frame: pl.DataFrame, value: pl.Expr) -> dict[str, float]:
    """``{event date: value}`` in date order, for the per-day series in run metadata."""
    daily = frame.group_by("event_date").agg(value.alias("value")).sort("event_date")
    return {day.isoformat(): round(float(total), 3) for day, total in daily.iter_rows()}


def _coverage_share(coverage: pl.DataFrame) -> float:
    """Share of required emission lines that found a factor (1.0 when there were none to price).

    Optional lines (T&D losses) are left out: their gaps are expected and listed in ``factor_coverage``.
    """
    required = coverage.filter("required")
    lines = int(required["lines"].sum() or 0)
    return float(required["covered"].sum()) / lines if lines else 1.0


def silver_to_chimney_co2(settings: Settings) -> StageResult:
    """Measured chimney CO2 per sensor and hour (physics, not factors) as ``chimney_co2``."""
    flows = chimney_flows(read_silver(settings), load_chimneys(settings.factors_dir))
    hourly = integrate_hourly(flows, settings.chimney_max_gap_seconds)
    warehouse.replace_tables(settings.warehouse_path, {"chimney_co2": hourly})
    measured, gaps = float(hourly["measured_s"].sum() or 0), float(hourly["gap_s"].sum() or 0)
    return StageResult(
        rows_in=flows.height, rows_out=hourly.height, preview=hourly.head(10),
        details={"co2_kg": float(hourly["co2_kg"].sum() or 0.0), "measured_s": measured, "gap_s": gaps,
                 "coverage": measured / (measured + gaps) if measured + gaps else 0.0,
                 "max_gap_s": settings.chimney_max_gap_seconds},
    )


CHIMNEY_SELF_CHECK_TOLERANCE = 0.01  # 1%: float32 firmware arithmetic and rounded payloads stay far inside it


def chimney_self_check(settings: Settings) -> dict[str, float | int]:
    """Agreement between the kg/s chimney nodes report and the pipeline's physics (see ``chimney.self_check``)."""
    flows = chimney_flows(read_silver(settings), load_chimneys(settings.factors_dir))
    return self_check(flows, CHIMNEY_SELF_CHECK_TOLERANCE)


def emissions_to_scope_totals(settings: Settings, days: Days) -> StageResult:
    """Recompute ``scope_totals`` for the calendar months that ``days`` fall in."""
    first, last = days.first.replace(day=1), days.last.replace(day=1)
    emissions = warehouse.query(settings.warehouse_path,
                                "SELECT org, site, ts, scope, method, co2e_kg, biogenic_co2_kg FROM emissions"
                                " WHERE date_trunc('month', event_date) BETWEEN ? AND ?", [first, last])
    totals = scope_totals(emissions)
    warehouse.replace_range(settings.warehouse_path, {"scope_totals": totals}, "month", first, last)
    return StageResult(rows_in=emissions.height, rows_out=totals.height, preview=totals.head(10),
                       details={"days": str(days), "months": f"{first:%Y-%m}...{last:%Y-%m}",
                                "co2e_kg_location": float(totals["co2e_kg"].sum() or 0.0),
                                "co2e_kg_market": float(totals["co2e_kg_market"].sum() or 0.0)})


def emissions_to_kpis(settings: Settings) -> StageResult:
    """Per-vertical KPIs (``vertical_kpis``) and the composite ``sustainability_score``."""
    silver = read_silver(settings)
    emissions = warehouse.query(settings.warehouse_path,
                                "SELECT source_id, event_id, ts, org, site, vertical, scope, method, activity, co2e_kg"
                                " FROM emissions")
    kpis = vertical_kpis(silver, emissions)
    score = sustainability_score(kpis, parse_weights(settings.score_weights))
    warehouse.replace_tables(settings.warehouse_path, {"vertical_kpis": kpis, "sustainability_score": score})
    return StageResult(rows_in=silver.height, rows_out=kpis.height, preview=kpis.head(20),
                       details={"kpis": sorted(kpis["kpi"].unique().to_list()), "score_weights": settings.score_weights,
                                "months_scored": score.height})


def publish_factors(settings: Settings) -> StageResult:
    """Every factor of every release, with its citation, as the warehouse's ``factors`` table."""
    factors = all_factors(settings.factors_dir)
    warehouse.replace_tables(settings.warehouse_path, {"factors": factors})
    return StageResult(rows_in=factors.height, rows_out=factors.height,
                       details={"releases": sorted(factors["release"].unique().to_list())})


def publish_quarantine(settings: Settings) -> StageResult:
    """All quarantined rows of every stage as the warehouse's ``quarantine`` table."""
    tables = Tables(settings)
    frames = [read_table(tables.quarantine(stage), QUARANTINE_SCHEMA) for stage in STAGES]
    combined = pl.concat(frames)
    warehouse.replace_tables(settings.warehouse_path, {"quarantine": combined})
    return StageResult(rows_in=combined.height, rows_out=combined.height, quarantined=reasons(combined),
                       preview=combined.drop("raw").head(10))
