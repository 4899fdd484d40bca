"""``emissions``: silver readings x the pinned factor release, one row per emitting reading."""

import dagster as dg

from assets.metadata import materialized
from assets.resources import LakeResource
from carbon_lake import warehouse
from carbon_lake.pipeline import chimney_self_check, silver_to_chimney_co2, silver_to_emissions


@dg.asset(group_name="emissions", deps=["silver_readings"], kinds={"duckdb", "polars"})
def emissions(lake: LakeResource) -> dg.MaterializeResult:
    """Every row carries its factor id, release, the rule that chose it and its landing file."""
    return materialized(silver_to_emissions(lake.settings()))


@dg.asset(group_name="emissions", deps=["silver_readings"], kinds={"duckdb", "polars"})
def chimney_co2(lake: LakeResource) -> dg.MaterializeResult:
    """CO2 measured in chimneys (ppm x flow x density), per sensor and hour, with gaps counted as coverage."""
    return materialized(silver_to_chimney_co2(lake.settings()))


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


@dg.asset_check(asset=chimney_co2, description="Chimney nodes that report their own kg/s agree with the pipeline's "
                                              "physics within 1% on every reading.")
def chimney_self_check_agrees(lake: LakeResource) -> dg.AssetCheckResult:
    result = chimney_self_check(lake.settings())
    return dg.AssetCheckResult(passed=result["disagreeing"] == 0, metadata=result)
