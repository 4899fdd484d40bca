"""``silver_readings``: deduplicated, validated (pandera), canonical units (pint)."""

import dagster as dg
import polars as pl

from assets.metadata import materialized
from assets.resources import LakeResource
from carbon_lake.contracts import SILVER_SCHEMA
from carbon_lake.lake import read_table
from carbon_lake.pipeline import Tables, bronze_to_silver


@dg.asset(group_name="silver", deps=["bronze_readings"], kinds={"delta", "polars", "pandera"})
def silver_readings(lake: LakeResource) -> dg.MaterializeResult:
    """One row per (source_id, event_id, metric), first landed copy wins; rejects go to quarantine."""
    return materialized(bronze_to_silver(lake.settings()))


@dg.asset_check(asset=silver_readings, blocking=True, description="Each (source_id, event_id, metric) appears once.")
def silver_key_is_unique(lake: LakeResource) -> dg.AssetCheckResult:
    silver = read_table(Tables(lake.settings()).silver, SILVER_SCHEMA)
    duplicated = silver.group_by("source_id", "event_id", "metric").len().filter(pl.col("len") > 1)
    return dg.AssetCheckResult(passed=duplicated.is_empty(),
                               metadata={"duplicated_keys": duplicated.height, "rows": silver.height})
