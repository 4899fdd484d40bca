"""GHG math: silver readings x a factor release -> emission lines, coverage and scope totals.

Each reading's activity makes the emission lines ``emission_lines.csv`` declares for it (scope,
category, scope 2 method, the factor activity that prices it). A line's factor is resolved
explicitly and the rule is recorded on the row (``factor_rule``): the most specific region
first (the site, ``site:{org}/{site}``; then the reading's region, e.g. ``US-CAMX``; its
country, ``US``; then ``GLOBAL``), among the factors valid on the reading's date, for the
line's variant (the vehicle class, the refrigerant) and the reading's canonical unit.

A required line that no factor covers sends the reading to quarantine with the reason: it
never gets zero. An optional line (scope 3 T&D losses, which not every country publishes)
that finds no factor is counted in the coverage table instead, so the gap is visible.

Market-based scope 2 splits a reading by the share its site's contractual instrument covers:
the covered part at the instrument's rate, the rest at the grid average (the releases carry
no residual-mix factors; the Scope 2 Guidance allows the grid average then, and the row says
so). Every scope 2 reading therefore has location rows and market rows: sum one method, never
both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from carbon_lake.days import event_date
from carbon_lake.factors import FactorRelease
from carbon_lake.rules import LOCATION, MARKET, READING_KEY, ROW_KEY, valid_on
from carbon_lake.site_data import SiteData, load_site_data
from carbon_lake.units import units_for
from carbon_lake.vocabulary import load_vocabulary

GASES = {"co2_kg": "co2_kg_per_unit", "ch4_kg": "ch4_kg_per_unit", "n2o_kg": "n2o_kg_per_unit",
         "biogenic_co2_kg": "biogenic_co2_kg_per_unit"}


@dataclass(frozen=True)
class Priced:
    emissions: pl.DataFrame  # one row per emission line (a market line may be split in two)
    unmatched: pl.DataFrame  # silver rows whose required line found no factor, with ``reason``
    coverage: pl.DataFrame   # per line and region: readings, covered, uncovered


def lines_for(silver: pl.DataFrame, factors_dir: Path) -> pl.DataFrame:
    """Each silver row joined to the emission lines it makes, with the line's variant from its tags.

    A vertical's own lines replace the default ones for that activity (diesel in logistics is
    mobile combustion). A line with ``unless_activities`` is skipped when the same reading also
    reports one of them: distance-based mobile combustion only when no fuel was metered.

    Everything that depends only on a few distinct values (which lines an activity makes in a
    vertical, which variant a tags object names) is worked out on those values and looked up,
    so the millions of rows go through one join and no per-row JSON parsing.
    """
    lines = load_vocabulary(factors_dir).lines
    key = ["activity", "_vertical"]
    rows = silver.with_columns(pl.col("vertical").fill_null("").alias("_vertical"))
    pairs = rows.select(key).unique()
    specific = lines.filter(pl.col("vertical") != "*").rename({"vertical": "_vertical"})
    effective = pl.concat([
        pairs.join(specific, on=key),
        pairs.join(specific.select(key).unique(), on=key, how="anti")
        .join(lines.filter(pl.col("vertical") == "*").drop("vertical"), on="activity"),
    ], how="diagonal")
    joined = rows.join(effective, on=key).drop("_vertical").with_row_index("_row")
    guarded = joined.filter(pl.col("unless_activities").list.len() > 0)
    if not guarded.is_empty():
        blocked = (guarded.select("_row", *READING_KEY, pl.col("unless_activities").alias("activity")).explode("activity")
                   .join(silver.select(*READING_KEY, "activity"), on=[*READING_KEY, "activity"], how="semi"))
        joined = joined.join(blocked.select("_row"), on="_row", how="anti")
    tags = joined.select(pl.col("tags").drop_nulls().unique())["tags"]
    variant = pl.lit(None, pl.Utf8)
    for tag in lines["variant_tag"].drop_nulls().unique().sort():
        named = pl.col("tags").replace_strict(tags, tags.str.json_path_match(f"$.{tag}"), default=None)
        variant = pl.when(pl.col("variant_tag") == tag).then(named).otherwise(variant)
    return joined.drop("_row", "unless_activities").with_columns(variant.alias("variant"))


def factors_per_canonical(release: FactorRelease, factors_dir: Path) -> pl.DataFrame:
    """Each factor rescaled from its own unit (tonne, US gallon, MMBtu) to its canonical unit."""
    units = units_for(factors_dir)
    scale = [units.factor(u, c) for u, c in release.factors.select("unit", "canonical_unit").iter_rows()]
    per_unit = ["co2e_kg_per_unit", *GASES.values()]
    return release.factors.with_columns(pl.Series("unit_scale", scale)).select(
        "factor_id", pl.col("activity").alias("factor_activity"), pl.col("variant").fill_null(""),
        pl.col("region").alias("candidate_region"), "canonical_unit", "valid_from", "valid_to", "gwp_basis",
        *[(pl.col(c) / pl.col("unit_scale")).alias(c) for c in per_unit],
    )


def resolve(lines: pl.DataFrame, release: FactorRelease, factors_dir: Path) -> pl.DataFrame:
    """``lines`` with the chosen factor's columns (null where none covers), one row per line.

    The choice depends only on what is being priced, where and on which day, so it is made once
    per distinct key (a few thousand) and joined back to the lines (millions).
    """
    key = ["factor_activity", "variant", "canonical_unit", "org", "site", "region", "day"]
    lines = lines.with_columns(pl.col("ts").dt.date().alias("day"))
    candidates = (
        lines.select(key).unique().with_row_index("_key")
        .with_columns(pl.format("site:{}/{}", "org", "site").alias("p0"), pl.col("region").alias("p1"),
                      pl.col("region").str.split("-").list.first().alias("p2"), pl.lit("GLOBAL").alias("p3"),
                      pl.col("variant").fill_null("").alias("_variant"))
    )
    chosen = (
        candidates.unpivot(index=["_key", "factor_activity", "_variant", "canonical_unit", "day"],
                           on=["p0", "p1", "p2", "p3"], variable_name="priority", value_name="candidate_region")
        .drop_nulls("candidate_region")  # a reading without a region skips to GLOBAL, recorded as a fallback
        .unique(subset=["_key", "candidate_region"], keep="first")
        .join(factors_per_canonical(release, factors_dir).rename({"variant": "_variant"}),
              on=["factor_activity", "_variant", "candidate_region", "canonical_unit"])
        .filter(valid_on(pl.col("day")))
        .sort("_key", "priority")
        .unique(subset="_key", keep="first")
        .drop("factor_activity", "_variant", "canonical_unit", "day", "valid_from", "valid_to")
    )
    keyed = candidates.select(*key, "_key").join(chosen, on="_key", how="left").drop("_key")
    return lines.join(keyed, on=key, how="left", nulls_equal=True).drop("day")


# How much coarser than the reading's own region the factor that priced a line is.
FALLBACKS = ("region_to_country", "region_to_global", "no_region_to_global")

# Fallbacks that misstate a number, not just coarsen it: a grid factor is the region's own mix, so
# a scope 2 line priced at a coarser grid is wrong by the difference; and a reading with no region
# was never placed. Combustion fallbacks to a GLOBAL proxy follow the fuel's carbon content and
# are expected (emission_factors/build_releases.py says so on each proxy row).
FALLBACK_SUMMARY_SQL = (
    "SELECT scope, activity, factor_fallback, count(*) AS lines, sum(co2e_kg) AS co2e_kg,"
    " bool_or(scope = 2 OR factor_fallback = 'no_region_to_global') AS material"
    " FROM emissions WHERE factor_fallback IS NOT NULL GROUP BY ALL ORDER BY material DESC, lines DESC"
)


def fallback() -> pl.Expr:
    """Null where the factor is the site's or the reading's region's, else which fallback chose it.

    Written on every emission row (``factor_fallback``) and counted in ``factor_coverage``, so a
    number priced at a coarser region than the reading's is never mistaken for a match."""
    return (
        pl.when(pl.col("factor_id").is_null() | pl.col("priority").is_in(["p0", "p1"])).then(pl.lit(None, pl.Utf8))
        .when(pl.col("region").is_null()).then(pl.lit("no_region_to_global"))
        .when(pl.col("priority") == "p2").then(pl.lit("region_to_country"))
        .otherwise(pl.lit("region_to_global"))
    )


def _rule(region: pl.Expr) -> pl.Expr:
    variant = pl.when(pl.col("variant").is_not_null()).then(pl.format(" ({}={})", "variant_tag", "variant")).otherwise(pl.lit(""))
    return (
        pl.when(pl.col("factor_fallback").is_null())
        .then(pl.format("{} factor{} for {} matched", "factor_activity", variant, "candidate_region"))
        .when(pl.col("factor_fallback") == "no_region_to_global")
        .then(pl.format("the reading names no region: fell back to the GLOBAL {} factor{}", "factor_activity", variant))
        .otherwise(pl.format("no {} factor{} for {}, fell back to {}", "factor_activity", variant, region,
                             "candidate_region"))
    )


def split_market(resolved: pl.DataFrame, site_data: SiteData) -> pl.DataFrame:
    """Market lines split by the site's instrument: covered share at its rate, the rest at the grid average.

    Every market row records ``site_data.version``, the rest as much as the covered part: the
    instrument's share sets both quantities, and a line that no instrument covers is priced in
    full at the grid average because that version declares none for its site and day.
    """
    market = resolved.filter(pl.col("method") == "market")
    covered_by = (
        market.select("_line", "org", "site", "ts").join(site_data.instruments, on=["org", "site"])
        .filter(valid_on(pl.col("ts").dt.date()))
        .select("_line", "instrument_id", "kind", "share", "co2e_kg_per_kwh")
    )
    market = market.join(covered_by, on="_line", how="left")
    covered = market.filter(pl.col("instrument_id").is_not_null()).with_columns(
        (pl.col("quantity") * pl.col("share")).alias("quantity"),
        pl.col("instrument_id").alias("factor_id"),
        pl.col("co2e_kg_per_kwh").alias("co2e_kg_per_unit"),
        *[pl.lit(None, pl.Float64).alias(c) for c in GASES.values()],
        pl.lit("unknown").alias("gwp_basis"),  # a contract's rate states no GWP basis
        pl.format("contractual instrument {} ({}) covers {}% of site {}/{}", "instrument_id", "kind",
                  (pl.col("share") * 100).round(2), "org", "site").alias("factor_rule"),
    )
    grid_rule = pl.format("market: no residual mix in the release, grid average used ({})", "factor_rule")
    rest = market.filter(pl.col("share").is_null() | (pl.col("share") < 1)).with_columns(
        (pl.col("quantity") * (1 - pl.col("share").fill_null(0.0))).alias("quantity"),
        grid_rule.alias("factor_rule"),
    )
    return (pl.concat([covered, rest], how="diagonal_relaxed").drop("instrument_id", "kind", "share", "co2e_kg_per_kwh")
            .with_columns(pl.lit(site_data.version, pl.Utf8).alias("site_data_version")))


def apply_factors(silver: pl.DataFrame, release: FactorRelease, factors_dir: Path,
                  site_data: SiteData | None = None) -> Priced:
    """Emission lines for every emitting reading, the readings no factor covers, and coverage.

    ``site_data`` (the instruments market rows are priced with) defaults to the newest sealed
    version, as ``load_release`` does for factors; the pipeline passes the pinned one.
    """
    site_data = site_data or load_site_data(factors_dir)
    lines = lines_for(silver, factors_dir).with_row_index("_line")
    region = pl.col("region").fill_null("GLOBAL")
    resolved = resolve(lines, release, factors_dir).with_columns(fallback().alias("factor_fallback"))
    resolved = resolved.with_columns(_rule(region).alias("factor_rule"))
    found = resolved.filter(pl.col("factor_id").is_not_null())
    priced = pl.concat([found.filter(pl.col("method").is_null() | (pl.col("method") != "market")),
                        split_market(found, site_data)], how="diagonal_relaxed")
    emissions = priced.select(
        "source_id", "event_id", "ts", "org", "site", pl.col("scope").cast(pl.Int8), "category", "activity",
        "quantity", pl.col("canonical_unit").alias("unit"), "factor_id",
        pl.lit(release.version).alias("factor_release"),
        pl.col("co2e_kg_per_unit").alias("factor_value"),
        (pl.col("quantity") * pl.col("co2e_kg_per_unit")).alias("co2e_kg"),
        *[(pl.col("quantity") * pl.col(per_unit)).alias(name) for name, per_unit in GASES.items()],
        "landing_file", "landing_offset", "factor_rule", "vertical", "region", "metric", "method", "gwp_basis",
        "site_data_version", pl.col("candidate_region").alias("factor_region"), "factor_fallback", event_date(),
    )
    missing = resolved.filter(pl.col("factor_id").is_null())
    variant_missing = pl.col("variant_tag").is_not_null() & pl.col("variant").is_null()
    unmatched = (
        missing.filter(pl.col("required"))
        .with_columns(
            pl.when(variant_missing)
            .then(pl.format("tags.{}: expected the tag that chooses a {} factor, got none", "variant_tag", "factor_activity"))
            .otherwise(pl.format(
                "no emission factor for {}{} in {} for region {} or its fallbacks (site, country, GLOBAL) valid on {} "
                "in release {}", "factor_activity",
                pl.when(pl.col("variant").is_not_null()).then(pl.format(" ({})", "variant")).otherwise(pl.lit("")),
                "canonical_unit", region, pl.col("ts").dt.date(), pl.lit(release.version)))
            .alias("reason"),
            pl.when(variant_missing).then(pl.lit("variant_missing")).otherwise(pl.lit("factor_missing")).alias("reason_code"))
        .unique(subset=ROW_KEY, keep="first", maintain_order=True)
        .select(*silver.columns, "reason", "reason_code")
    )
    coverage = (
        resolved.group_by(event_date(), *COVERAGE_KEY[1:-1], pl.col("region").fill_null("GLOBAL"))
        .agg(pl.len().alias("lines"), pl.col("factor_id").is_not_null().sum().alias("covered"),
             pl.col("factor_fallback").is_not_null().sum().alias("fell_back"),
             *[(pl.col("factor_fallback") == kind).sum().alias(kind) for kind in FALLBACKS],
             pl.col("required").first())
        .with_columns((pl.col("lines") - pl.col("covered")).alias("uncovered"), pl.lit(release.version).alias("factor_release"))
    )
    return Priced(emissions, unmatched, _in_order(coverage))


# What a factor_coverage row counts lines of, and the counts.
COVERAGE_KEY = ("event_date", "scope", "category", "method", "factor_activity", "region")
COVERAGE_COUNTS = ("lines", "covered", "fell_back", *FALLBACKS, "uncovered")


def add_up_coverage(pieces: pl.DataFrame) -> pl.DataFrame:
    """The coverage of readings priced in pieces (``apply_factors`` on each), as if priced at once."""
    summed = pieces.group_by(COVERAGE_KEY).agg(*[pl.col(c).sum() for c in COVERAGE_COUNTS],
                                               pl.col("required", "factor_release").first())
    return _in_order(summed.select(pl.col(name).cast(dtype) for name, dtype in pieces.schema.items()))


def _in_order(coverage: pl.DataFrame) -> pl.DataFrame:
    return coverage.sort("event_date", "scope", "category", "method", "region", nulls_last=True)


def scope_totals(emissions: pl.DataFrame) -> pl.DataFrame:
    """CO2e per org, site, calendar month (UTC) and scope, scope 2 by both methods.

    ``co2e_kg`` is the location-based inventory (scope 2 at grid averages) and ``co2e_kg_market``
    the market-based one; scopes 1 and 3 are the same in both. Biogenic CO2 stays outside the
    scopes, in its own column.
    """
    return (
        emissions.group_by("org", "site", pl.col("ts").dt.truncate("1mo").dt.date().alias("month"), "scope")
        .agg(pl.col("co2e_kg").filter(LOCATION).sum(),
             pl.col("co2e_kg").filter(MARKET).sum().alias("co2e_kg_market"),
             pl.col("biogenic_co2_kg").filter(LOCATION).sum())
        .sort("org", "site", "month", "scope")
    )
