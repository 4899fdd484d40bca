"""``emissions``: silver readings x the pinned factor release, one row per emitting reading."""

import dagster as dg

from assets.metadata import materialized
from assets.resources import LakeResource
from carbon_lake.pipeline import silver_to_emissions


@dg.asset(group_name="emissions", deps=["silver_readings"], kinds={"duckdb", "polars"})
def emissions(lake: LakeResource) -> dg.MaterializeResult:
    """Every row carries its factor id, release, the rule that chose it and its landing file."""
    return materialized(silver_to_emissions(lake.settings()))
