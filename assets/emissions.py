"""``emissions``: silver readings x the pinned factor release, one row per emitting reading, by day."""

import dagster as dg

from assets.checks import contract_check
from assets.metadata import markdown_table, materialized
from assets.partitions import DAILY, FOLLOW_ANY_DAY, RETRY, SINGLE_RUN, days_of, days_updated_since_last
from assets.resources import LakeResource
from carbon_lake import warehouse
from carbon_lake.emissions import FALLBACK_SUMMARY_SQL
from carbon_lake.chimney_hours import silver_to_chimney_co2
from carbon_lake.pipeline import silver_to_emissions

EMISSIONS_CONTRACT_CHECK = dg.AssetCheckSpec("emissions_match_contract", asset="emissions", blocking=True,
                                             description="pandera: every emission line of the day has a scope "
                                                         "1-3, a factor id and release, lineage, and a finite, "
                                                         "non-negative quantity and CO2e.")
CHIMNEY_SELF_CHECK = dg.AssetCheckSpec("chimney_self_check_agrees", asset="chimney_co2",
                                       description="Chimney nodes that report their own kg/s agree with the "
                                                   "pipeline's physics within 1% on every reading the run "
                                                   "integrated.")


@dg.asset(group_name="emissions", deps=["silver_readings"], kinds={"duckdb", "polars", "pandera"},
          partitions_def=DAILY, backfill_policy=SINGLE_RUN, retry_policy=RETRY,
          check_specs=[EMISSIONS_CONTRACT_CHECK])
def emissions(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Every row carries its factor id, release, the rule that chose it and its landing file."""
    result = silver_to_emissions(lake.settings(), days_of(context))
    return materialized(result, [contract_check("emissions_match_contract", result)])


@dg.asset(group_name="emissions", deps=["silver_readings"], kinds={"duckdb", "polars"}, retry_policy=RETRY,
          automation_condition=FOLLOW_ANY_DAY, check_specs=[CHIMNEY_SELF_CHECK])
def chimney_co2(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """CO2 measured in chimneys (ppm x flow x density), per sensor and hour, with gaps counted as coverage.
    Recomputes the hours that the days updated since its last run change (all hours on the first)."""
    changed = days_updated_since_last(context, [dg.AssetKey("silver_readings")])
    result = silver_to_chimney_co2(lake.settings(), changed)
    agreement = result.details.pop("self_check")
    return materialized(result, [dg.AssetCheckResult(check_name="chimney_self_check_agrees",
                                                     passed=agreement["disagreeing"] == 0, metadata=agreement)])


@dg.asset_check(asset=emissions, description="Share of required emission lines that found a factor; the rest are "
                                            "in quarantine with the reason (never priced at zero).")
def factor_coverage(lake: LakeResource) -> dg.AssetCheckResult:
    coverage = warehouse.query(lake.settings().warehouse_path,
                               "SELECT required, sum(lines) AS lines, sum(covered) AS covered FROM factor_coverage GROUP BY 1")
    totals = {row["required"]: row for row in coverage.iter_rows(named=True)}
    required = totals.get(True, {"lines": 0, "covered": 0})
    optional = totals.get(False, {"lines": 0, "covered": 0})
    share = required["covered"] / required["lines"] if required["lines"] else 1.0
    return dg.AssetCheckResult(
        passed=share == 1.0, severity=dg.AssetCheckSeverity.WARN,
        metadata={"required_lines": int(required["lines"]), "required_covered_share": float(share),
                  "optional_lines": int(optional["lines"]), "optional_covered": int(optional["covered"])})


@dg.asset_check(asset=emissions, description="Lines priced at a coarser region than the reading's: fails (warn) "
                                            "where a scope 2 grid line fell back or a reading named no region.")
def factor_fallbacks(lake: LakeResource) -> dg.AssetCheckResult:
    found = warehouse.query(lake.settings().warehouse_path, FALLBACK_SUMMARY_SQL)
    material = found.filter("material")
    return dg.AssetCheckResult(
        passed=material.is_empty(), severity=dg.AssetCheckSeverity.WARN,
        metadata={"fallback_lines": int(found["lines"].sum() or 0), "material_lines": int(material["lines"].sum() or 0),
                  "by_kind": dg.MetadataValue.md(markdown_table(found, limit=20))})
