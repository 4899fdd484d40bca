"""What changes between two factor releases or site-data versions, and how a year's totals would
move (a restatement preview).

Factors are compared by what resolution chooses them on (activity, variant, region, canonical
unit), not by id: a new vintage usually has a new id (``epa2021-egrid-us-kwh`` becomes
``epa2025-egrid-us-kwh``) and is still the same slot. Instruments are compared by
``instrument_id`` (the id market rows cite) and chimneys by ``(org, site, source_id)``. The
preview re-prices the same silver readings under both sides (a factor release and a site-data
version each) with the real engine, so it shows exactly what re-materializing would publish.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from carbon_lake.chimney import KEY as CHIMNEY_KEY
from carbon_lake.emissions import apply_factors, factors_per_canonical
from carbon_lake.rules import LOCATION, MARKET
from carbon_lake.factors import FactorRelease
from carbon_lake.site_data import SiteData, load_site_data

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


def _row_changes(old: pl.DataFrame, new: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """``status`` (added, removed, changed), ``key`` and ``changes`` per row of two versions of one
    table: ``field: old -> new`` for what changed, every ``field=value`` of an added or removed row."""
    fields = [c for c in old.columns if c not in key]

    def as_text(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select(*key, *[pl.col(c).cast(pl.Utf8) for c in fields], pl.lit(True).alias("_present"))

    joined = as_text(old).join(as_text(new), on=key, how="full", coalesce=True, suffix="_new", nulls_equal=True)
    shown = lambda column: pl.col(column).fill_null("(empty)")  # noqa: E731
    differs = {c: pl.col(c).ne_missing(pl.col(f"{c}_new")) for c in fields}
    status = (pl.when(pl.col("_present").is_null()).then(pl.lit("added"))
              .when(pl.col("_present_new").is_null()).then(pl.lit("removed"))
              .when(pl.any_horizontal(*differs.values())).then(pl.lit("changed")).otherwise(pl.lit("same")))

    def listing(suffix: str) -> pl.Expr:
        return pl.concat_str([pl.format(f"{c}={{}}", shown(c + suffix)) for c in fields], separator="; ")

    moved = pl.concat_str([pl.when(d).then(pl.format(f"{c}: {{}} -> {{}}", shown(c), shown(f"{c}_new")))
                           for c, d in differs.items()], separator="; ", ignore_nulls=True)
    changes = (pl.when(pl.col("_present").is_null()).then(listing("_new"))
               .when(pl.col("_present_new").is_null()).then(listing("")).otherwise(moved))
    return (joined.with_columns(status.alias("status"), changes.alias("changes")).filter(pl.col("status") != "same")
            .select("status", *key, "changes").sort("status", *key))


def instrument_changes(old: SiteData, new: SiteData) -> pl.DataFrame:
    """Instruments added, removed or changed (share, rate, window, evidence), by ``instrument_id``."""
    return _row_changes(old.instruments, new.instruments, ["instrument_id"])


def chimney_changes(old: SiteData, new: SiteData) -> pl.DataFrame:
    """Chimneys added, removed or re-surveyed, by what the geometry is used for: area and pressure."""
    return _row_changes(old.chimneys, new.chimneys, CHIMNEY_KEY)


def side_labels(old: FactorRelease, new: FactorRelease, old_site: SiteData, new_site: SiteData) -> tuple[str, str]:
    """Names for the two sides of a comparison: the factor release, the site-data version when only
    that moves (both may be numbered 2026.1.0), both when both move."""
    if old_site.version == new_site.version:
        return old.version, new.version
    if old.version == new.version:
        return f"site_{old_site.version}", f"site_{new_site.version}"
    return f"{old.version}+site_{old_site.version}", f"{new.version}+site_{new_site.version}"


def default_year(silver: pl.DataFrame) -> int | None:
    """The last complete calendar year with readings, else the newest year with any (None: no readings)."""
    if silver.is_empty():
        return None
    years = silver["ts"].dt.year()
    newest = int(years.max())
    return newest - 1 if (years == newest - 1).any() else newest


def restatement(silver: pl.DataFrame, old: FactorRelease, new: FactorRelease, factors_dir: Path,
                year: int, old_site: SiteData | None = None,
                new_site: SiteData | None = None) -> tuple[pl.DataFrame, dict[str, int]]:
    """Totals per scope (scope 2 by method) for ``year`` under both sides and the move, and per
    side the number of readings no factor covers (they would go to quarantine).

    A side is a factor release and a site-data version (default: the newest on both sides); the
    columns are named by :func:`side_labels`."""
    readings = silver.filter(pl.col("ts").dt.year() == year)
    newest = load_site_data(factors_dir) if old_site is None or new_site is None else None
    old_site, new_site = old_site or newest, new_site or newest
    labels = side_labels(old, new, old_site, new_site)
    columns, unmatched = [], {}
    for release, site_data, label in ((old, old_site, labels[0]), (new, new_site, labels[1])):
        priced = apply_factors(readings, release, factors_dir, site_data)
        unmatched[label] = priced.unmatched.height
        columns.append(pl.concat([
            priced.emissions.filter(LOCATION).group_by("scope").agg(pl.col("co2e_kg").sum())
            .with_columns(pl.when(pl.col("scope") == 2).then(pl.lit("location")).alias("method")),
            priced.emissions.filter((pl.col("scope") == 2) & MARKET).group_by("scope").agg(pl.col("co2e_kg").sum())
            .with_columns(pl.lit("market").alias("method")),
        ]).select("scope", "method", pl.col("co2e_kg").alias(f"kg_{label}")))
    old_kg, new_kg = (f"kg_{label}" for label in labels)
    table = (
        columns[0].join(columns[1], on=["scope", "method"], how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col(old_kg).fill_null(0.0), pl.col(new_kg).fill_null(0.0))
        .with_columns((pl.col(new_kg) - pl.col(old_kg)).alias("change_kg"),
                      ((pl.col(new_kg) / pl.col(old_kg) - 1) * 100).alias("change_pct"))
        .sort("scope", "method", nulls_last=True)
        .select(pl.lit(year).alias("year"), pl.all())
    )
    return table, unmatched
