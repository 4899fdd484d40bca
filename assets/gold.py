"""Gold tables in ``warehouse.duckdb``: scope totals, the factors used, the quarantine."""

import dagster as dg

from assets.metadata import materialized
from assets.resources import LakeResource
from carbon_lake import warehouse
from carbon_lake.pipeline import emissions_to_kpis, emissions_to_scope_totals, publish_factors, publish_quarantine


@dg.asset(group_name="gold", deps=["emissions"], kinds={"duckdb"})
def scope_totals(lake: LakeResource) -> dg.MaterializeResult:
    """kg CO2e per org, site, month and GHG Protocol scope."""
    return materialized(emissions_to_scope_totals(lake.settings()))


@dg.asset_check(asset=scope_totals, description="Scope totals add up to the emission line items to the gram, "
                                                "for the location-based and the market-based inventory alike.")
def scope_totals_reconcile(lake: LakeResource) -> dg.AssetCheckResult:
    row = warehouse.query(
        lake.settings().warehouse_path,
        "SELECT (SELECT coalesce(sum(co2e_kg), 0) FROM scope_totals) AS location_totals,"
        " (SELECT coalesce(sum(co2e_kg_market), 0) FROM scope_totals) AS market_totals,"
        " (SELECT coalesce(sum(co2e_kg), 0) FROM emissions WHERE method IS NULL OR method = 'location') AS location_items,"
        " (SELECT coalesce(sum(co2e_kg), 0) FROM emissions WHERE method IS NULL OR method = 'market') AS market_items",
    ).row(0, named=True)
    passed = all(abs(row[f"{m}_totals"] - row[f"{m}_items"]) < 1e-3 for m in ("location", "market"))
    return dg.AssetCheckResult(passed=passed, metadata={k: float(v) for k, v in row.items()})


@dg.asset(group_name="gold", deps=["silver_readings", "emissions"], kinds={"duckdb", "polars"})
def kpis(lake: LakeResource) -> dg.MaterializeResult:
    """Per-vertical KPIs (PUE, WUE, kg CO2e per GPU-hour, g CO2e per km and mile, kg CO2e per kg made,
    mg CO2e per API request) and the composite sustainability score, weights from CARBON_LAKE_SCORE_WEIGHTS."""
    return materialized(emissions_to_kpis(lake.settings()))


@dg.asset(group_name="gold", kinds={"duckdb"})
def factors(lake: LakeResource) -> dg.MaterializeResult:
    """Every factor of every release under emission_factors/, with its source and licence."""
    return materialized(publish_factors(lake.settings()))


@dg.asset(group_name="gold", deps=["bronze_readings", "silver_readings", "emissions"], kinds={"duckdb"})
def quarantine(lake: LakeResource) -> dg.MaterializeResult:
    """Every rejected row of every stage, with its reason and raw bytes, for SQL clients."""
    return materialized(publish_quarantine(lake.settings()))
