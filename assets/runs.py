"""``carbon-lake materialize``: the same definitions, run in this process, one stage after another.

Without ``--partition`` it processes what has landed and is not yet in gold: new landing files
into bronze, then, in one run however scattered they are, every event day whose files were
parsed after the day was last materialized (or never was), with the unpartitioned gold tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone

import dagster as dg

from assets import bronze, emissions, gold, silver
from assets.definitions import LAKE_JOB
from assets.partitions import days_tags
from carbon_lake import expectations
from carbon_lake.days import Days, DaySet, stale_days
from carbon_lake.pipeline import read_ledger
from carbon_lake.settings import Settings

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
DAY_ASSETS = [silver.silver_readings.key, emissions.emissions.key, gold.scope_totals.key]
WHOLE_GOLD = [emissions.chimney_co2.key, gold.kpis.key, gold.quarantine.key, gold.factors.key]


def last_materialized(instance: dg.DagsterInstance, key: dg.AssetKey, days: Iterable[date]) -> dict[date, datetime]:
    """When each of ``days`` of asset ``key`` was last materialized (absent: never)."""
    wanted = [d.isoformat() for d in days]
    if not wanted:
        return {}
    found: dict[date, datetime] = {}
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=wanted),
                                              limit=max(100, 4 * len(wanted))).records
    for record in records:  # newest first
        day = date.fromisoformat(record.partition_key)
        found.setdefault(day, datetime.fromtimestamp(record.timestamp, timezone.utc))
    return found


def pending_days(settings: Settings, instance: dg.DagsterInstance) -> DaySet | None:
    ledger = read_ledger(settings)
    candidates = set(ledger.explode("event_dates")["event_dates"].drop_nulls().to_list())
    done = last_materialized(instance, silver.silver_readings.key, candidates)
    stale = stale_days(ledger, done)
    return DaySet.of(stale) if stale else None


def materialize(definitions: dg.Definitions, settings: Settings, instance: dg.DagsterInstance,
                days: Days | DaySet | None = None,
                report: Callable[[str, dg.ExecuteInProcessResult], None] = lambda stage, result: None) -> bool:
    """Run bronze, then one run of the days (``days``, or every pending day) with whole-lake gold;
    True if both succeeded. Two runs whatever the days: a run's fixed cost is paid once."""
    job = definitions.resolve_job_def(LAKE_JOB)
    expectations.preload()  # the gold suite runs last; its library loads while bronze runs

    def run(stage: str, selection: list[dg.AssetKey], tags: dict[str, str] | None = None) -> bool:
        result = job.execute_in_process(instance=instance, asset_selection=selection, tags=tags,
                                        raise_on_error=False, run_config=QUIET)
        report(stage, result)
        return result.success

    ok = run("bronze", [bronze.bronze_readings.key])
    days = DaySet.of(days) if days else pending_days(settings, instance)
    if days is None:
        return run("gold", WHOLE_GOLD) and ok
    label = f"{len(days.dates())} day(s) in {len(days.ranges)} range(s) of {days.first}...{days.last}, and gold"
    return run(label, DAY_ASSETS + WHOLE_GOLD, days_tags(days)) and ok
