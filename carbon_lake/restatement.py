"""What changes between two factor releases, and how a year's totals would move (a restatement preview).

Factors are compared by what resolution chooses them on (activity, variant, region, canonical
unit), not by id: a new vintage usually has a new id (``epa2021-egrid-us-kwh`` becomes
``epa2025-egrid-us-kwh``) and is still the same slot. The preview re-prices the same silver
readings under both releases with the real engine, so it shows exactly what re-materializing
with the new release would publish.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from carbon_lake.emissions import LOCATION_OR_ALL, MARKET_OR_ALL, apply_factors, factors_per_canonical
from carbon_lake.factors import FactorRelease

SLOT = ["factor_activity", "variant", "candidate_region", "canonical_unit"]


def factor_changes(old: FactorRelease, new: FactorRelease, factors_dir: Path) -> pl.DataFrame:
    """One row per slot that was added, removed or re-valued, in kg CO2e per canonical unit."""
    def side(release: FactorRelease) -> pl.DataFrame:
        return factors_per_canonical(release, factors_dir).select(*SLOT, "factor_id", "co2e_kg_per_unit", "gwp_basis")

    joined = side(old).join(side(new), on=SLOT, how="full", coalesce=True, suffix="_new")
    status = (
        pl.when(pl.col("factor_id").is_null()).then(pl.lit("added"))
        .when(pl.col("factor_id_new").is_null()).then(pl.lit("removed"))
        .when((pl.col("co2e_kg_per_unit") - pl.col("co2e_kg_per_unit_new")).abs()
              > 1e-12 * pl.col("co2e_kg_per_unit").abs()).then(pl.lit("changed"))
        .when(pl.col("factor_id") != pl.col("factor_id_new")).then(pl.lit("re-sourced"))
        .otherwise(pl.lit("same"))
    )
    return (
        joined.with_columns(status.alias("status"),
                            ((pl.col("co2e_kg_per_unit_new") / pl.col("co2e_kg_per_unit") - 1) * 100).alias("change_pct"))
        .filter(pl.col("status") != "same")
        .select("status", pl.col("factor_activity").alias("activity"), "variant", pl.col("candidate_region").alias("region"),
                pl.col("canonical_unit").alias("unit"),
                pl.col("factor_id").alias(f"{old.version}"), pl.col("co2e_kg_per_unit").alias(f"kg_{old.version}"),
                pl.col("factor_id_new").alias(f"{new.version}"), pl.col("co2e_kg_per_unit_new").alias(f"kg_{new.version}"),
                "change_pct")
        .sort("status", "activity", "region", "variant")
    )


def default_year(silver: pl.DataFrame) -> int | None:
    """The last complete calendar year with readings, else the newest year with any (None: no readings)."""
    if silver.is_empty():
        return None
    years = silver["ts"].dt.year()
    newest = int(years.max())
    return newest - 1 if (years == newest - 1).any() else newest


def restatement(silver: pl.DataFrame, old: FactorRelease, new: FactorRelease, factors_dir: Path,
                year: int) -> tuple[pl.DataFrame, dict[str, int]]:
    """Totals per scope (scope 2 by method) for ``year`` under both releases and the move, and per
    release the number of readings no factor covers (they would go to quarantine)."""
    readings = silver.filter(pl.col("ts").dt.year() == year)
    columns, unmatched = [], {}
    for release in (old, new):
        priced = apply_factors(readings, release, factors_dir)
        unmatched[release.version] = priced.unmatched.height
        columns.append(pl.concat([
            priced.emissions.filter(LOCATION_OR_ALL).group_by("scope").agg(pl.col("co2e_kg").sum())
            .with_columns(pl.when(pl.col("scope") == 2).then(pl.lit("location")).alias("method")),
            priced.emissions.filter((pl.col("scope") == 2) & MARKET_OR_ALL).group_by("scope").agg(pl.col("co2e_kg").sum())
            .with_columns(pl.lit("market").alias("method")),
        ]).select("scope", "method", pl.col("co2e_kg").alias(f"kg_{release.version}")))
    old_kg, new_kg = f"kg_{old.version}", f"kg_{new.version}"
    table = (
        columns[0].join(columns[1], on=["scope", "method"], how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col(old_kg).fill_null(0.0), pl.col(new_kg).fill_null(0.0))
        .with_columns((pl.col(new_kg) - pl.col(old_kg)).alias("change_kg"),
                      ((pl.col(new_kg) / pl.col(old_kg) - 1) * 100).alias("change_pct"))
        .sort("scope", "method", nulls_last=True)
        .select(pl.lit(year).alias("year"), pl.all())
    )
    return table, unmatched
