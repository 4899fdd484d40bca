"""``bronze_readings``: landing files parsed into one row per reading and metric."""

import dagster as dg

from assets.metadata import markdown_table, materialized
from assets.partitions import RETRY
from assets.resources import LakeResource
from carbon_lake.device_status import new_drops
from carbon_lake.pipeline import land_to_bronze, scan_device_status


@dg.asset(group_name="bronze", deps=["landing"], kinds={"delta", "polars"}, retry_policy=RETRY)
def bronze_readings(lake: LakeResource) -> dg.MaterializeResult:
    """Parses landing files not parsed before; unparseable messages go to quarantine with the raw bytes.

    Not partitioned by day: which days a landing file holds is known only after parsing it. The
    ledger (bronze/landing_files) records them, and the sensor runs exactly those days below."""
    return materialized(land_to_bronze(lake.settings()))


@dg.asset_check(asset=bronze_readings,
                description="No device reported dropping readings in the last 7 days: its offline buffer overflowed "
                            "and the oldest readings were lost for good (the firmware counts each drop in its status "
                            "messages).")
def devices_dropped_nothing(lake: LakeResource) -> dg.AssetCheckResult:
    drops = new_drops(scan_device_status(lake.settings()))
    metadata: dict[str, dg.MetadataValue] = {"devices_with_new_drops": dg.MetadataValue.int(drops.height),
                                             "readings_dropped": dg.MetadataValue.int(int(drops["new_drops"].sum()))}
    if not drops.is_empty():
        metadata["devices"] = dg.MetadataValue.md(markdown_table(drops))
    # A warning: the loss has happened, and the pipeline should go on with what did arrive.
    return dg.AssetCheckResult(passed=drops.is_empty(), severity=dg.AssetCheckSeverity.WARN, metadata=metadata)
