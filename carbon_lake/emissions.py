"""GHG math: silver readings x a factor release -> emission rows and scope totals.

Resolution is explicit and recorded on every row (``factor_rule``): the reading's region
first (e.g. ``US-CAMX``), then its country (``US``), then ``GLOBAL``. A reading that needs a
factor and finds none is rejected with the reason; it never gets zero.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from carbon_lake.factors import FactorRelease
from carbon_lake.units import units_for
from carbon_lake.vocabulary import load_vocabulary

GASES = {"co2e_kg": "co2e_kg_per_unit", "co2_kg": "co2_kg_per_unit", "ch4_kg": "ch4_kg_per_unit",
         "n2o_kg": "n2o_kg_per_unit", "biogenic_co2_kg": "biogenic_co2_kg_per_unit"}


def attach_scopes(silver: pl.DataFrame, factors_dir: Path) -> pl.DataFrame:
    """Scope and category per row: the vertical's own rule when there is one, else the default."""
    scopes = load_vocabulary(factors_dir).scopes
    specific = scopes.filter(pl.col("vertical") != "*")
    default = scopes.filter(pl.col("vertical") == "*").drop("vertical")
    return (
        silver.join(specific, on=["activity", "vertical"], how="left")
        .join(default, on="activity", how="left", suffix="_default")
        .with_columns(
            pl.coalesce("scope", "scope_default").alias("scope"),
            pl.coalesce("category", "category_default").alias("category"),
        )
        .drop("scope_default", "category_default")
    )


def factors_per_canonical(release: FactorRelease, factors_dir: Path) -> pl.DataFrame:
    """Each factor rescaled from its own unit (tonne, US gallon) to the activity's canonical unit."""
    vocabulary = load_vocabulary(factors_dir)
    units = units_for(factors_dir)
    scale = [
        units.factor(vocabulary.activities[a].canonical_unit, u)
        for a, u in release.factors.select("activity", "unit").iter_rows()
    ]
    return release.factors.with_columns(pl.Series("unit_scale", scale)).select(
        "factor_id", "activity", pl.col("region").alias("candidate_region"), "valid_from", "valid_to",
        *[(pl.col(c) * pl.col("unit_scale")).alias(c) for c in GASES.values()],
    )


def apply_factors(silver: pl.DataFrame, release: FactorRelease, factors_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(emissions, unmatched)``: one emission row per emitting reading, and those no factor covers."""
    rows = attach_scopes(silver, factors_dir).filter(pl.col("scope").is_not_null()).with_row_index("_row")
    region = pl.col("region").fill_null("GLOBAL")
    country = region.str.split("-").list.first()
    candidates = (
        rows.select("_row", "activity", "ts", region.alias("r0"), country.alias("r1"), pl.lit("GLOBAL").alias("r2"))
        .unpivot(index=["_row", "activity", "ts"], on=["r0", "r1", "r2"], variable_name="priority", value_name="candidate_region")
        .unique(subset=["_row", "candidate_region"], keep="first")
    )
    matched = (
        candidates.join(factors_per_canonical(release, factors_dir), on=["activity", "candidate_region"])
        .filter(
            (pl.col("valid_from").is_null() | (pl.col("ts").dt.date() >= pl.col("valid_from")))
            & (pl.col("valid_to").is_null() | (pl.col("ts").dt.date() < pl.col("valid_to")))
        )
        .sort("_row", "priority")
        .unique(subset="_row", keep="first")
        .drop("activity", "ts", "valid_from", "valid_to")
    )
    joined = rows.join(matched, on="_row", how="left")
    emissions = joined.filter(pl.col("factor_id").is_not_null()).select(
        "source_id", "event_id", "ts", "org", "site", pl.col("scope").cast(pl.Int8), "category", "activity",
        "quantity", pl.col("canonical_unit").alias("unit"), "factor_id",
        pl.lit(release.version).alias("factor_release"),
        pl.col("co2e_kg_per_unit").alias("factor_value"),
        *[(pl.col("quantity") * pl.col(per_unit)).alias(name) for name, per_unit in GASES.items()],
        "landing_file", "landing_offset",
        pl.when(pl.col("priority") == "r0").then(pl.format("region {} matched", "candidate_region"))
        .otherwise(pl.format("no {} factor for region {}, fell back to {}", "activity", region, "candidate_region"))
        .alias("factor_rule"),
        "vertical", "region", "metric",
    )
    unmatched = joined.filter(pl.col("factor_id").is_null()).with_columns(
        pl.format("no emission factor for activity '{}' in region {} or its fallbacks (country, GLOBAL) in release {}",
                  "activity", region, pl.lit(release.version)).alias("reason")
    )
    return emissions, unmatched.drop("_row")


def scope_totals(emissions: pl.DataFrame) -> pl.DataFrame:
    """CO2e per org, site, calendar month (UTC) and scope; biogenic CO2 stays outside the scopes."""
    return (
        emissions.group_by("org", "site", pl.col("ts").dt.truncate("1mo").dt.date().alias("month"), "scope")
        .agg(pl.col("co2e_kg").sum())
        .sort("org", "site", "month", "scope")
    )
