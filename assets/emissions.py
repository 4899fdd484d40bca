"""``emissions``: silver readings x the pinned factor release, one row per emitting reading."""

import dagster as dg

from assets.metadata import materialized
from assets.resources import LakeResource
from carbon_lake.pipeline import silver_to_chimney_co2, silver_to_emissions


@dg.asset(group_name="emissions", deps=["silver_readings"], kinds={"duckdb", "polars"})
def emissions(lake: LakeResource) -> dg.MaterializeResult:
    """Every row carries its factor id, release, the rule that chose it and its landing file."""
    return materialized(silver_to_emissions(lake.settings()))


@dg.asset(group_name="emissions", deps=["silver_readings"], kinds={"duckdb", "polars"})
def chimney_co2(lake: LakeResource) -> dg.MaterializeResult:
    """CO2 measured in chimneys (ppm x flow x density), per sensor and hour, with gaps counted as coverage."""
    return materialized(silver_to_chimney_co2(lake.settings()))
