"""``bronze_readings``: landing files parsed into one row per reading and metric."""

import dagster as dg

from assets.metadata import materialized
from assets.resources import LakeResource
from carbon_lake.pipeline import land_to_bronze


@dg.asset(group_name="bronze", deps=["landing"], kinds={"delta", "polars"})
def bronze_readings(lake: LakeResource) -> dg.MaterializeResult:
    """Parses landing files not parsed before; unparseable messages go to quarantine with the raw bytes."""
    return materialized(land_to_bronze(lake.settings()))
