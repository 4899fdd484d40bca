"""``landing``: raw messages written by the landing service; Dagster observes, never writes, it.

The sensor turns new landing files into a run every few seconds (the demo's micro-batch).
"""

from __future__ import annotations

import dagster as dg

from assets.resources import LakeResource
from carbon_lake.landing import list_landing_files

landing = dg.AssetSpec(
    "landing",
    group_name="landing",
    description="Immutable Parquet files of raw MQTT/file/HTTP messages (topic, payload bytes, "
    "receive time), written by `carbon-lake land` and `carbon-lake ingest`.",
)

IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]


def landing_sensor(job: dg.UnresolvedAssetJobDefinition, interval_seconds: int) -> dg.SensorDefinition:
    """A sensor that requests ``job`` when a landing file newer than its cursor appears."""

    @dg.sensor(job=job, minimum_interval_seconds=interval_seconds, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Starts a micro-batch run when new landing files appear.")
    def new_landing_files(context: dg.SensorEvaluationContext, lake: LakeResource):
        files = list_landing_files(lake.settings().home)
        newest = files[-1] if files else None
        if newest is None or newest == context.cursor:
            return dg.SkipReason("no new landing files")
        busy = context.instance.get_runs(dg.RunsFilter(job_name=job.name, statuses=IN_PROGRESS), limit=1)
        if busy:
            return dg.SkipReason(f"run {busy[0].run_id} is still processing; new files wait for the next tick")
        fresh = [f for f in files if context.cursor is None or f > context.cursor]
        context.update_cursor(newest)
        return dg.RunRequest(run_key=newest, tags={"carbon_lake/new_landing_files": str(len(fresh))})

    return new_landing_files
