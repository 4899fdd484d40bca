"""``silver_readings``: deduplicated, validated (pandera), canonical units (pint); one partition per day."""

import dagster as dg

from assets.metadata import materialized
from assets.partitions import DAILY, RETRY, SINGLE_RUN, days_of
from assets.resources import LakeResource
from assets.checks import contract_check
from carbon_lake.pipeline import Tables, bronze_to_silver
from carbon_lake.silver import repeated_keys

SILVER_CONTRACT_CHECK = dg.AssetCheckSpec("silver_matches_contract", asset="silver_readings", blocking=True,
                                          description="pandera: the day's silver rows have the silver types, "
                                                      "finite values and allowed signs.")


@dg.asset(group_name="silver", deps=["bronze_readings"], kinds={"delta", "polars", "pandera"},
          partitions_def=DAILY, backfill_policy=SINGLE_RUN, retry_policy=RETRY, check_specs=[SILVER_CONTRACT_CHECK])
def silver_readings(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """One row per (source_id, event_id, metric), first landed copy wins; rejects go to quarantine."""
    days = days_of(context)
    result = bronze_to_silver(lake.settings(), days)
    return materialized(result, [contract_check("silver_matches_contract", result)])


@dg.asset_check(asset=silver_readings, blocking=True,
                description="Each (source_id, event_id, metric) of the run's days appears once in silver, "
                            "across all days.")
def silver_key_is_unique(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    days = days_of(context)
    repeated = repeated_keys(Tables(lake.settings()).silver, days)
    return dg.AssetCheckResult(passed=repeated.is_empty(),
                               metadata={"days": str(days), "duplicated_keys": repeated.height,
                                         "examples": dg.MetadataValue.json(repeated.head(5).to_dicts())})
