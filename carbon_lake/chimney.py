"""Chimney physics: flue-gas CO2 concentration, velocity and temperature -> kg of CO2.

A chimney sensor measures CO2 as a volume fraction (ppm), the gas velocity and the flue
temperature. The CO2 mass flow is

    kg/s = (ppm x 1e-6) x (velocity x cross-section) x rho_CO2,   rho_CO2 = P x M / (R x T)

with the cross-section and pressure from the site's chimney metadata (``chimneys.csv`` of a sealed
site-data version, :mod:`carbon_lake.site_data`) and T in kelvin. Mass over time is the
trapezoidal integral between consecutive readings of one sensor; an interval longer than ``max_gap_s`` is a gap: it is counted, not filled, so coverage
says how much of the time was actually measured. This is a measurement, kept apart from the
factor-based emissions of the fuel burned (counting both would double count).
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from carbon_lake.contracts import ContractError

R_J_PER_MOL_K = 8.314462618  # molar gas constant (CODATA 2018, exact)
M_CO2_KG_PER_MOL = 0.0440095  # molar mass of CO2 (IUPAC standard atomic weights: 12.0107 + 2 x 15.9994 g/mol)
KELVIN_OFFSET = 273.15
METRICS = {"co2": "co2_ppm", "flue_velocity": "velocity_m_s", "flue_temp": "temp_c"}
REPORTED = "co2_mass_flow"  # the kg/s a chimney node computes itself, when its firmware reports it
ACTIVITIES = [*METRICS, REPORTED]  # the silver activities the physics reads
KEY = ["org", "site", "source_id"]  # what a chimney row describes (source_id ``*``: every sensor of the site)


def co2_density_kg_m3(temp_c: pl.Expr, pressure_pa: pl.Expr) -> pl.Expr:
    """Density of CO2 at the flue's temperature and pressure, as an ideal gas."""
    return pressure_pa * M_CO2_KG_PER_MOL / (R_J_PER_MOL_K * (temp_c + KELVIN_OFFSET))


def co2_mass_flow_kg_s(ppm: pl.Expr, velocity_m_s: pl.Expr, area_m2: pl.Expr, temp_c: pl.Expr,
                       pressure_pa: pl.Expr) -> pl.Expr:
    return ppm * 1e-6 * velocity_m_s * area_m2 * co2_density_kg_m3(temp_c, pressure_pa)


def load_chimneys(folder: Path) -> pl.DataFrame:
    """Chimney geometry per ``(org, site, source_id)`` (``*``: every sensor of the site), with its area.

    A second row for the same key is refused: the join would give its sensor two flows, counting its CO2 twice.
    """
    chimneys = pl.read_csv(folder / "chimneys.csv", schema_overrides={
        "diameter_m": pl.Float64, "width_m": pl.Float64, "depth_m": pl.Float64, "pressure_pa": pl.Float64})
    for line, row in enumerate(chimneys.iter_rows(named=True), start=2):
        needed = {"circle": ["diameter_m"], "rectangle": ["width_m", "depth_m"]}.get(row["shape"])
        if needed is None:
            raise ContractError(f"chimneys.csv line {line}: shape", row["shape"], "circle or rectangle")
        for column in needed + ["pressure_pa"]:
            if row[column] is None or not row[column] > 0:
                raise ContractError(f"chimneys.csv line {line}: {column}", row[column], "a positive number")
    repeated = chimneys.with_row_index("line", offset=2).filter(~pl.struct(KEY).is_first_distinct())
    if repeated.height:
        row = repeated.row(0, named=True)
        raise ContractError(f"chimneys.csv line {row['line']}: source_id", row["source_id"],
                            f"one geometry per (org, site, source_id); {row['org']}/{row['site']} has it already")
    return chimneys.with_columns(
        pl.when(pl.col("shape") == "circle").then(math.pi * (pl.col("diameter_m") / 2) ** 2)
        .otherwise(pl.col("width_m") * pl.col("depth_m")).alias("area_m2")
    ).select("org", "site", "source_id", "area_m2", "pressure_pa")


def chimney_flows(silver: pl.DataFrame, chimneys: pl.DataFrame) -> pl.DataFrame:
    """One row per chimney reading that has all three metrics and known geometry, with its kg/s."""
    readings = (
        silver.filter(pl.col("activity").is_in(ACTIVITIES))
        .pivot(on="activity", index=["org", "site", "source_id", "event_id", "ts"], values="quantity",
               aggregate_function="first")
    )
    for activity in ACTIVITIES:
        if activity not in readings.columns:
            readings = readings.with_columns(pl.lit(None, dtype=pl.Float64).alias(activity))
    readings = readings.rename({**METRICS, REPORTED: "reported_kg_s"}).drop_nulls(list(METRICS.values()))
    exact = readings.join(chimneys, on=["org", "site", "source_id"], how="inner")
    by_site = readings.join(exact.select("source_id"), on="source_id", how="anti").join(
        chimneys.filter(pl.col("source_id") == "*").drop("source_id"), on=["org", "site"], how="inner")
    located = pl.concat([exact, by_site], how="diagonal")
    return located.with_columns(
        co2_mass_flow_kg_s(pl.col("co2_ppm"), pl.col("velocity_m_s"), pl.col("area_m2"), pl.col("temp_c"),
                           pl.col("pressure_pa")).alias("co2_kg_s")
    ).sort("source_id", "ts")


def self_check(flows: pl.DataFrame, rel_tolerance: float) -> dict[str, float | int]:
    """How well the device's own kg/s agrees with the pipeline's physics on the same reading.

    A disagreement beyond ``rel_tolerance`` means the device and the pipeline use different
    geometry or constants (or a sensor drifted): the measured CO2 cannot be trusted until the
    two are reconciled.
    """
    compared = flows.filter(pl.col("reported_kg_s").is_not_null()).with_columns(
        ((pl.col("reported_kg_s") - pl.col("co2_kg_s")).abs() / pl.col("co2_kg_s").abs()).alias("rel_diff"))
    disagreeing = compared.filter(pl.col("rel_diff") > rel_tolerance)
    return {"readings_compared": compared.height, "disagreeing": disagreeing.height,
            "worst_rel_diff": float(compared["rel_diff"].max() or 0.0), "rel_tolerance": rel_tolerance}


def combined(checks: list[dict[str, float | int]], rel_tolerance: float) -> dict[str, float | int]:
    """The :func:`self_check` of readings checked in parts, as one."""
    return {"readings_compared": sum(c["readings_compared"] for c in checks),
            "disagreeing": sum(c["disagreeing"] for c in checks),
            "worst_rel_diff": max((c["worst_rel_diff"] for c in checks), default=0.0),
            "rel_tolerance": rel_tolerance}


def integrate_hourly(flows: pl.DataFrame, max_gap_s: float) -> pl.DataFrame:
    """kg of CO2 per sensor and UTC hour, with the seconds measured and the seconds in gaps.

    Each interval between consecutive readings is attributed to the hour it starts in.
    """
    intervals = flows.sort("source_id", "ts").with_columns(
        pl.col("ts").shift(-1).over("source_id").alias("next_ts"),
        pl.col("co2_kg_s").shift(-1).over("source_id").alias("next_kg_s"),
    ).filter(pl.col("next_ts").is_not_null()).with_columns(
        ((pl.col("next_ts") - pl.col("ts")).dt.total_microseconds() / 1e6).alias("dt_s")
    ).with_columns((pl.col("dt_s") <= max_gap_s).alias("measured"))
    return (
        intervals.group_by("org", "site", "source_id", pl.col("ts").dt.truncate("1h").alias("hour"))
        .agg(
            (pl.when("measured").then((pl.col("co2_kg_s") + pl.col("next_kg_s")) / 2 * pl.col("dt_s")).otherwise(0.0))
            .sum().alias("co2_kg"),
            pl.when("measured").then(pl.col("dt_s")).otherwise(0.0).sum().alias("measured_s"),
            pl.when("measured").then(0.0).otherwise(pl.col("dt_s")).sum().alias("gap_s"),
            pl.len().alias("intervals"),
        )
        .with_columns((pl.col("measured_s") / (pl.col("measured_s") + pl.col("gap_s"))).alias("coverage"))
        .sort("org", "site", "source_id", "hour")
    )
