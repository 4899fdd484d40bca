"""The code location: one ``Definitions`` for ``dagster dev``, ``carbon-lake materialize`` and the tests."""

from __future__ import annotations

import dagster as dg

from assets import bronze, emissions, gold, silver
from assets.landing import landing, landing_sensor
from assets.resources import LakeResource
from carbon_lake.settings import Settings

LAKE_JOB = "materialize_lake"


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    # In one process: the stages are quick, and a process per step would cost more than the work.
    job = dg.define_asset_job(LAKE_JOB, selection=dg.AssetSelection.all(), executor_def=dg.in_process_executor,
                              description="landing -> bronze -> silver -> emissions -> gold")
    return dg.Definitions(
        assets=[landing, bronze.bronze_readings, silver.silver_readings, emissions.emissions, emissions.chimney_co2,
                gold.scope_totals, gold.kpis, gold.factors, gold.quarantine],
        asset_checks=[silver.silver_key_is_unique, emissions.factor_coverage, emissions.chimney_self_check_agrees,
                      gold.scope_totals_reconcile],
        jobs=[job],
        sensors=[landing_sensor(job, settings.microbatch_seconds)],
        resources={"lake": LakeResource.from_settings(settings)},
    )


defs = build_definitions()
