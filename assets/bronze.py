"""``bronze_readings``: landing files parsed into one row per reading and metric."""

import dagster as dg

from assets.metadata import materialized
from assets.partitions import RETRY
from assets.resources import LakeResource
from carbon_lake.pipeline import land_to_bronze


@dg.asset(group_name="bronze", deps=["landing"], kinds={"delta", "polars"}, retry_policy=RETRY)
def bronze_readings(lake: LakeResource) -> dg.MaterializeResult:
    """Parses landing files not parsed before; unparseable messages go to quarantine with the raw bytes.

    Not partitioned by day: which days a landing file holds is known only after parsing it. The
    ledger (bronze/landing_files) records them, and the sensor runs exactly those days below."""
    return materialized(land_to_bronze(lake.settings()))
