"""``landing``: raw messages written by the landing service; Dagster observes, never writes, it.

The sensor is the micro-batch loop, in two steps that each advance only on what is durable:
new landing files (those the bronze ledger does not list) start one ``ingest_landing`` run;
files the ledger lists as parsed since the cursor start one ``process_days`` run for exactly the
event days they hold, however scattered. Gold follows by declarative automation.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import dagster as dg
import polars as pl

from assets.resources import LakeResource
from assets.partitions import days_tags
from carbon_lake.days import DaySet
from carbon_lake.landing import newest_landing_time
from carbon_lake.pipeline import read_ledger, unparsed_landing_files

landing = dg.AssetSpec(
    "landing",
    group_name="landing",
    description="Immutable Parquet files of raw MQTT/file/HTTP messages (topic, payload bytes, "
    "receive time), written by `carbon-lake land` and `carbon-lake ingest`.",
)

@dg.asset_check(asset="landing", description="The newest landing file is younger than "
                                           "CARBON_LAKE_LANDING_FRESHNESS_SECONDS (15 min by default): "
                                           "devices are still being heard.")
def landing_is_fresh(lake: LakeResource) -> dg.AssetCheckResult:
    settings = lake.settings()
    newest = newest_landing_time(settings.home)
    age = None if newest is None else (datetime.now(timezone.utc) - newest).total_seconds()
    return dg.AssetCheckResult(
        passed=age is not None and age <= settings.landing_freshness_seconds,
        severity=dg.AssetCheckSeverity.WARN,  # a quiet stream is worth a look, not a reason to stop the pipeline
        metadata={"newest_landing_file_at": newest.isoformat() if newest else "none yet",
                  "age_seconds": dg.MetadataValue.float(round(age, 1) if age is not None else -1.0),
                  "limit_seconds": settings.landing_freshness_seconds})


IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]


def day_requests(ledger: pl.DataFrame, parsed_after: datetime | None, job_name: str) -> list[dg.RunRequest]:
    """One run for all the days held by files parsed after ``parsed_after``, however scattered."""
    fresh = ledger if parsed_after is None else ledger.filter(pl.col("processed_at") > parsed_after)
    dates = fresh.explode("event_dates")["event_dates"].drop_nulls().to_list()
    if not dates:
        return []
    days = DaySet.of(dates)
    stamp = fresh["processed_at"].max().isoformat()
    return [dg.RunRequest(run_key=f"days:{days.first}...{days.last}:{len(days.dates())}@{stamp}", job_name=job_name,
                          tags=days_tags(days))]


def landing_sensor(ingest_job: dg.UnresolvedAssetJobDefinition, days_job: dg.UnresolvedAssetJobDefinition,
                   interval_seconds: int) -> dg.SensorDefinition:
    """The micro-batch sensor (see the module docstring); ``interval_seconds`` between ticks."""

    @dg.sensor(jobs=[ingest_job, days_job], minimum_interval_seconds=interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="New landing files -> one bronze run; newly parsed days -> one run of exactly those days.")
    def new_landing_files(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        settings = lake.settings()
        cursor = json.loads(context.cursor) if context.cursor else {}
        requests: list[dg.RunRequest] = []
        skips: list[str] = []

        pending = unparsed_landing_files(settings)
        busy = context.instance.get_runs(dg.RunsFilter(job_name=ingest_job.name, statuses=IN_PROGRESS), limit=1)
        if pending and busy:
            skips.append(f"run {busy[0].run_id} is still parsing; {len(pending)} new files wait for the next tick")
        elif pending:
            requests.append(dg.RunRequest(run_key=f"ingest:{pending[-1]}:{len(pending)}", job_name=ingest_job.name,
                                          tags={"carbon_lake/new_landing_files": str(len(pending))}))

        ledger = read_ledger(settings)
        parsed_after = datetime.fromisoformat(cursor["parsed_after"]) if "parsed_after" in cursor else None
        requests += day_requests(ledger, parsed_after, days_job.name)
        if not ledger.is_empty():
            cursor["parsed_after"] = ledger["processed_at"].max().isoformat()
        if not requests:
            skips.append("no new landing files and no newly parsed days")
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor),
                               skip_reason="; ".join(skips) if not requests else None)

    return new_landing_files
