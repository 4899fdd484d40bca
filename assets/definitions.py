"""The code location: one ``Definitions`` for ``dagster dev``, ``carbon-lake materialize`` and the tests."""

from __future__ import annotations

import dagster as dg

from assets import bronze, emissions, gold, silver
from assets.alerts import run_failure_alert
from assets.landing import landing, landing_is_fresh, landing_sensor
from assets.partitions import DAILY
from assets.resources import LakeResource
from carbon_lake.settings import Settings

LAKE_JOB = "materialize_lake"
INGEST_JOB = "ingest_landing"
DAYS_JOB = "process_days"
ALL_ASSETS = [landing, bronze.bronze_readings, silver.silver_readings, emissions.emissions, emissions.chimney_co2,
              gold.scope_totals, gold.kpis, gold.factors, gold.quarantine]
# Gold assets that follow their inputs by declarative automation (see assets.partitions.FOLLOW).
FOLLOWERS = [emissions.chimney_co2, gold.scope_totals, gold.kpis, gold.quarantine]


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    # In one process: the stages are quick, and a process per step would cost more than the work.
    in_process = dg.in_process_executor
    lake_job = dg.define_asset_job(LAKE_JOB, selection=dg.AssetSelection.all(), executor_def=in_process,
                                   description="landing -> bronze -> silver -> emissions -> gold")
    ingest_job = dg.define_asset_job(INGEST_JOB, selection=[bronze.bronze_readings], executor_def=in_process,
                                     description="Parse new landing files into bronze.")
    days_job = dg.define_asset_job(DAYS_JOB, selection=[silver.silver_readings, emissions.emissions],
                                   partitions_def=DAILY, executor_def=in_process,
                                   description="Silver and emissions for a range of event days.")
    freshness = dg.ScheduleDefinition(
        name="landing_freshness", cron_schedule="*/5 * * * *", default_status=dg.DefaultScheduleStatus.RUNNING,
        job=dg.define_asset_job("check_landing_freshness", selection=dg.AssetSelection.checks(landing_is_fresh)),
        description="Checks every 5 minutes that landing files keep arriving.")
    gold_follows = dg.AutomationConditionSensorDefinition(
        "gold_follows", target=dg.AssetSelection.assets(*FOLLOWERS), default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.microbatch_seconds,
        description="Gold follows updated emission days once the blocking checks upstream have passed.")
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=[landing_is_fresh, bronze.devices_dropped_nothing, silver.silver_key_is_unique, emissions.factor_coverage,
                      emissions.factor_fallbacks, gold.gold_expectations],
        jobs=[lake_job, ingest_job, days_job],
        schedules=[freshness],
        sensors=[landing_sensor(ingest_job, days_job, settings.microbatch_seconds), gold_follows, run_failure_alert],
        resources={"lake": LakeResource.from_settings(settings)},
    )


defs = build_definitions()
