"""The flow's stages as plain functions: landing -> bronze -> silver -> emissions -> gold.

Each stage reads the one before it, writes its own tables and returns what it did, so the
Dagster assets are a line each and the numbers they report are the ones the stage computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pyarrow as pa

from carbon_lake import warehouse
from carbon_lake.bronze import parse_landing_files
from carbon_lake.chimney import chimney_flows, integrate_hourly, load_chimneys, self_check
from carbon_lake.contracts import BRONZE_SCHEMA, EMISSIONS_COLUMNS, QUARANTINE_SCHEMA, SILVER_SCHEMA
from carbon_lake.emissions import LOCATION_OR_ALL, MARKET_OR_ALL, apply_factors, scope_totals
from carbon_lake.factors import all_factors, load_release
from carbon_lake.kpis import parse_weights, sustainability_score, vertical_kpis
from carbon_lake.lake import read_table, table_version, write_table
from carbon_lake.landing import list_landing_files
from carbon_lake.quarantine import STAGES, quarantine_frame, reasons, with_raw
from carbon_lake.settings import Settings
from carbon_lake.silver import to_silver

LEDGER_SCHEMA = pa.schema(
    [("landing_file", pa.string()), ("bronze_rows", pa.int64()), ("rejected", pa.int64()),
     ("processed_at", pa.timestamp("us", tz="UTC"))]
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


def land_to_bronze(settings: Settings) -> StageResult:
    """Parse every landing file not parsed before; append rows, rejects and the ledger."""
    tables = Tables(settings)
    done = set(read_table(tables.ledger, LEDGER_SCHEMA)["landing_file"].to_list())
    new_files = [f for f in list_landing_files(settings.home) if f not in done]
    bronze, rejected, statuses = parse_landing_files(settings.home, new_files)
    if new_files:
        write_table(tables.bronze, bronze, BRONZE_SCHEMA, "append")
        if not rejected.is_empty():
            write_table(tables.quarantine("bronze"), rejected, QUARANTINE_SCHEMA, "append")
        counts = bronze.group_by("landing_file").len()
        ledger = (
            pl.DataFrame({"landing_file": new_files})
            .join(counts, on="landing_file", how="left")
            .join(rejected.group_by("landing_file").len().rename({"len": "rejected"}), on="landing_file", how="left")
            .select("landing_file", pl.col("len").fill_null(0).alias("bronze_rows"),
                    pl.col("rejected").fill_null(0), pl.lit(datetime.now(timezone.utc)).alias("processed_at"))
        )
        write_table(tables.ledger, ledger, LEDGER_SCHEMA, "append")
    return StageResult(
        rows_in=len(new_files), rows_out=bronze.height, quarantined=reasons(rejected),
        details={"new_landing_files": len(new_files), "status_messages": statuses,
                 "bronze_version": table_version(tables.bronze)},
        preview=bronze.head(10),
    )


def bronze_to_silver(settings: Settings) -> StageResult:
    """Rebuild silver from all of bronze: deduplicated, validated, canonical units."""
    tables = Tables(settings)
    bronze = read_table(tables.bronze, BRONZE_SCHEMA)
    silver, rejected, duplicates = to_silver(bronze, settings.factors_dir)
    write_table(tables.quarantine("silver"), quarantine_frame("silver", with_raw(settings.home, rejected)),
                QUARANTINE_SCHEMA, "overwrite")
    version = write_table(tables.silver, silver, SILVER_SCHEMA, "overwrite")
    return StageResult(
        rows_in=bronze.height, rows_out=silver.height, quarantined=reasons(rejected),
        details={"duplicates_absorbed": duplicates, "bronze_version": table_version(tables.bronze),
                 "silver_version": version},
        preview=silver.head(10),
    )


def silver_to_emissions(settings: Settings) -> StageResult:
    """Apply the pinned factor release to silver; publish ``emissions`` and ``factor_coverage``."""
    tables = Tables(settings)
    release = load_release(settings.factors_dir, settings.factor_release)
    silver = read_table(tables.silver, SILVER_SCHEMA)
    priced = apply_factors(silver, release, settings.factors_dir)
    write_table(tables.quarantine("emissions"), quarantine_frame("emissions", with_raw(settings.home, priced.unmatched)),
                QUARANTINE_SCHEMA, "overwrite")
    warehouse.replace_tables(settings.warehouse_path, {"emissions": priced.emissions.select(EMISSIONS_COLUMNS),
                                                       "factor_coverage": priced.coverage})
    location = priced.emissions.filter(LOCATION_OR_ALL)
    return StageResult(
        rows_in=silver.height, rows_out=priced.emissions.height, quarantined=reasons(priced.unmatched),
        details={"factor_release": release.version, "gwp_basis": release.gwp_basis,
                 "silver_version": table_version(tables.silver),
                 "co2e_kg_location": float(location["co2e_kg"].sum() or 0.0),
                 "co2e_kg_market": float(priced.emissions.filter(MARKET_OR_ALL)["co2e_kg"].sum() or 0.0),
                 "factor_coverage": _coverage_share(priced.coverage)},
        preview=priced.emissions.head(10),
    )


def _coverage_share(coverage: pl.DataFrame) -> float:
    """Share of required emission lines that found a factor (1.0 when there were none to price).

    Optional lines (T&D losses) are left out: their gaps are expected and listed in ``factor_coverage``.
    """
    required = coverage.filter("required")
    lines = int(required["lines"].sum() or 0)
    return float(required["covered"].sum()) / lines if lines else 1.0


def silver_to_chimney_co2(settings: Settings) -> StageResult:
    """Measured chimney CO2 per sensor and hour (physics, not factors) as ``chimney_co2``."""
    silver = read_table(Tables(settings).silver, SILVER_SCHEMA)
    flows = chimney_flows(silver, load_chimneys(settings.factors_dir))
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
    flows = chimney_flows(read_table(Tables(settings).silver, SILVER_SCHEMA), load_chimneys(settings.factors_dir))
    return self_check(flows, CHIMNEY_SELF_CHECK_TOLERANCE)


def emissions_to_scope_totals(settings: Settings) -> StageResult:
    """Aggregate the warehouse's ``emissions`` into ``scope_totals``."""
    emissions = warehouse.query(settings.warehouse_path,
                                "SELECT org, site, ts, scope, method, co2e_kg, biogenic_co2_kg FROM emissions")
    totals = scope_totals(emissions)
    warehouse.replace_tables(settings.warehouse_path, {"scope_totals": totals})
    return StageResult(rows_in=emissions.height, rows_out=totals.height, preview=totals.head(10),
                       details={"co2e_kg_location": float(totals["co2e_kg"].sum() or 0.0),
                                "co2e_kg_market": float(totals["co2e_kg_market"].sum() or 0.0)})


def emissions_to_kpis(settings: Settings) -> StageResult:
    """Per-vertical KPIs (``vertical_kpis``) and the composite ``sustainability_score``."""
    silver = read_table(Tables(settings).silver, SILVER_SCHEMA)
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
