"""Gold tables in ``warehouse.duckdb``: scope totals, the factors used, the quarantine."""

import dagster as dg

from assets.metadata import markdown_table, materialized
from assets.partitions import DAILY, FOLLOW, FOLLOW_ANY_DAY, RETRY, SINGLE_RUN, days_of, days_updated_since_last
from assets.resources import LakeResource
from carbon_lake.expectations import outcomes_frame, validate_gold
from carbon_lake.pipeline import emissions_to_kpis, emissions_to_scope_totals, publish_factors, publish_quarantine


@dg.asset(group_name="gold", deps=["emissions"], kinds={"duckdb"}, partitions_def=DAILY, backfill_policy=SINGLE_RUN,
          retry_policy=RETRY, automation_condition=FOLLOW)
def scope_totals(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """kg CO2e per org, site, month and GHG Protocol scope; a day's partition recomputes its month."""
    return materialized(emissions_to_scope_totals(lake.settings(), days_of(context)))


@dg.asset_check(asset=scope_totals, description="great-expectations suite on the gold tables: scopes 1-3, no null "
                                                "keys, one row per (org, site, month, scope), non-negative totals, "
                                                "and totals that reconcile with the emission lines to the gram "
                                                "for both scope 2 methods.")
def gold_expectations(lake: LakeResource) -> dg.AssetCheckResult:
    outcomes = validate_gold(lake.settings().warehouse_path)
    failed = [o for o in outcomes if not o.success]
    return dg.AssetCheckResult(
        passed=not failed,
        metadata={"expectations": len(outcomes), "failed": len(failed),
                  "results": dg.MetadataValue.md(markdown_table(outcomes_frame(outcomes), limit=len(outcomes)))})


@dg.asset(group_name="gold", deps=["silver_readings", "emissions"], kinds={"duckdb", "polars"}, retry_policy=RETRY,
          automation_condition=FOLLOW_ANY_DAY)
def kpis(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Per-vertical KPIs (PUE, WUE, kg CO2e per GPU-hour, g CO2e per km and mile, kg CO2e per kg made,
    mg CO2e per API request) and the composite sustainability score, weights from CARBON_LAKE_SCORE_WEIGHTS.
    Recomputes the months of the days updated since its last run (all months on the first)."""
    changed = days_updated_since_last(context, [dg.AssetKey("silver_readings"), dg.AssetKey("emissions")])
    return materialized(emissions_to_kpis(lake.settings(), changed))


@dg.asset(group_name="gold", kinds={"duckdb"}, retry_policy=RETRY)
def factors(lake: LakeResource) -> dg.MaterializeResult:
    """Every factor of every release under emission_factors/, with its source and licence."""
    return materialized(publish_factors(lake.settings()))


@dg.asset(group_name="gold", deps=["bronze_readings", "silver_readings", "emissions"], kinds={"duckdb"},
          retry_policy=RETRY, automation_condition=FOLLOW_ANY_DAY)
def quarantine(lake: LakeResource) -> dg.MaterializeResult:
    """Every rejected row of every stage, with its reason and raw bytes, for SQL clients."""
    return materialized(publish_quarantine(lake.settings()))
