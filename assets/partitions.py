"""How assets are partitioned, retried and automated: one place, so every layer agrees.

Silver, emissions and ``scope_totals`` are partitioned by the readings' event date (UTC). A run
covers a range of days in one pass (``BackfillPolicy.single_run``), so a backfill of a year from
the UI is one run, not 365; ``carbon-lake materialize`` and the sensor make one run for any set
of days, however scattered (:func:`days_tags`).
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from carbon_lake.contracts import FIRST_EVENT_DATE
from carbon_lake.days import Days, DaySet

# end_offset=1: today's partition exists today (readings arrive all day), not only tomorrow.
DAILY = dg.DailyPartitionsDefinition(start_date=FIRST_EVENT_DATE.isoformat(), timezone="UTC", end_offset=1)
SINGLE_RUN = dg.BackfillPolicy.single_run()

# Transient failures (a locked warehouse, a busy disk) get two more tries, 5 s then 10 s later.
RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)

# Gold follows its inputs once the blocking checks upstream have passed: a day's partition when
# that day of its input updates (late data for a past day too, hence not only the latest window).
FOLLOW = (
    dg.AutomationCondition.eager().without(dg.AutomationCondition.in_latest_time_window())
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
)
# An unpartitioned table over daily inputs follows whenever any day of them updates. Not eager():
# its "no input missing" would wait for all ~4,000 days since 2015 to exist, i.e. forever.
FOLLOW_ANY_DAY = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
).with_label("follow any updated day")


# A run over scattered days spans them with Dagster's partition range and names the days with
# this tag; the other days of the range are current already, and a run recomputes only these.
DAYS_TAG = "carbon_lake/days"


def days_tags(days: DaySet) -> dict[str, str]:
    """Run tags that make one run cover ``days``, however scattered: Dagster's single-run partition
    range from the first to the last day, and the days themselves in :data:`DAYS_TAG`."""
    return {"dagster/asset_partition_range_start": days.first.isoformat(),
            "dagster/asset_partition_range_end": days.last.isoformat(), DAYS_TAG: str(days)}


def days_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> DaySet:
    """The run's days: one partition, a range from a single-run backfill (every day of it), or
    the days named by :data:`DAYS_TAG` inside the run's range."""
    keys = context.partition_key_range
    span = Days(date.fromisoformat(keys.start), date.fromisoformat(keys.end))
    named = context.run.tags.get(DAYS_TAG)
    days = DaySet.parse(named).within(span) if named else DaySet.of(span)
    if days is None:
        raise ValueError(f"{DAYS_TAG}: expected days inside the run's range {span}, got {named!r}")
    return days


def days_updated_since_last(context: dg.AssetExecutionContext, upstream: list[dg.AssetKey]) -> DaySet | None:
    """The days of the day-partitioned ``upstream`` assets materialized since this (unpartitioned)
    asset last was, from the event log: what a month-by-month table must recompute, whichever
    run or sensor updated them. None when the asset was never materialized or no day changed
    since: then the caller recomputes everything, as a user asking for a refresh expects."""
    instance = context.instance
    last = instance.fetch_materializations(context.asset_key, limit=1).records
    if not last:
        return None
    days: set[date] = set()
    for key in upstream:
        cursor = None
        while True:
            page = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=last[0].storage_id), limit=1000, cursor=cursor)
            days.update(date.fromisoformat(r.partition_key) for r in page.records if r.partition_key)
            if not page.has_more:
                break
            cursor = page.cursor
    return DaySet.of(days) if days else None
