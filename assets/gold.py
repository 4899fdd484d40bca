"""Gold tables in ``warehouse.duckdb``: scope totals, the factors used, the quarantine."""

import dagster as dg

from assets.metadata import materialized
from assets.resources import LakeResource
from carbon_lake import warehouse
from carbon_lake.pipeline import emissions_to_scope_totals, publish_factors, publish_quarantine


@dg.asset(group_name="gold", deps=["emissions"], kinds={"duckdb"})
def scope_totals(lake: LakeResource) -> dg.MaterializeResult:
    """kg CO2e per org, site, month and GHG Protocol scope."""
    return materialized(emissions_to_scope_totals(lake.settings()))


@dg.asset_check(asset=scope_totals, description="Scope totals add up to the emission line items, to the gram.")
def scope_totals_reconcile(lake: LakeResource) -> dg.AssetCheckResult:
    row = warehouse.query(
        lake.settings().warehouse_path,
        "SELECT (SELECT coalesce(sum(co2e_kg), 0) FROM scope_totals) AS totals,"
        " (SELECT coalesce(sum(co2e_kg), 0) FROM emissions) AS items",
    ).row(0, named=True)
    return dg.AssetCheckResult(passed=abs(row["totals"] - row["items"]) < 1e-3,
                               metadata={"scope_totals_kg": row["totals"], "line_items_kg": row["items"]})


@dg.asset(group_name="gold", kinds={"duckdb"})
def factors(lake: LakeResource) -> dg.MaterializeResult:
    """Every factor of every release under emission_factors/, with its source and licence."""
    return materialized(publish_factors(lake.settings()))


@dg.asset(group_name="gold", deps=["bronze_readings", "silver_readings", "emissions"], kinds={"duckdb"})
def quarantine(lake: LakeResource) -> dg.MaterializeResult:
    """Every rejected row of every stage, with its reason and raw bytes, for SQL clients."""
    return materialized(publish_quarantine(lake.settings()))
