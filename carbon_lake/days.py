"""Event days: the unit of partitioning from silver to gold.

A reading belongs to the UTC date of its ``ts``. Work is done over inclusive ranges of days, so
that a backfill of a year is one pass and one write, while late data for three scattered days
is three small ranges rather than everything in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import polars as pl


@dataclass(frozen=True, order=True)
class Days:
    """An inclusive range of event dates."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"days: expected first <= last, got {self.first}...{self.last}")

    @classmethod
    def parse(cls, text: str) -> Days:
        """``2026-11-20`` or ``2026-11-01...2026-11-30`` (Dagster's range notation)."""
        first, _, last = text.partition("...")
        try:
            return cls(date.fromisoformat(first.strip()), date.fromisoformat((last or first).strip()))
        except ValueError as exc:
            raise ValueError(f"partition: expected YYYY-MM-DD or YYYY-MM-DD...YYYY-MM-DD, got {text!r}") from exc

    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def keys(self) -> list[str]:
        """Dagster partition keys."""
        return [d.isoformat() for d in self.dates()]

    def holds_ts(self) -> pl.Expr:
        """Rows whose ``ts`` falls on one of these days (UTC)."""
        start = datetime.combine(self.first, time(), timezone.utc)
        end = datetime.combine(self.last + timedelta(days=1), time(), timezone.utc)
        return (pl.col("ts") >= start) & (pl.col("ts") < end)

    def holds_date(self) -> pl.Expr:
        """Rows whose ``event_date`` partition column is one of these days: prunes whole files."""
        return pl.col("event_date").is_between(self.first, self.last)

    def split(self, rows_by_day: Mapping[date, int], max_rows: int) -> list[Days]:
        """These days cut into consecutive ranges of at most ``max_rows`` rows each, so a stage's
        memory is bounded by ``max_rows`` and not by the range (a day above it is a range alone).

        Every day is covered, also days without rows: replacing a range must empty such a day."""
        ranges: list[Days] = []
        held = 0
        for day in self.dates():
            rows = rows_by_day.get(day, 0)
            if ranges and held + rows <= max_rows:
                ranges[-1] = Days(ranges[-1].first, day)
                held += rows
            else:
                ranges.append(Days(day, day))
                held = rows
        return ranges

    def predicate(self) -> str:
        """The same days as a Delta Lake predicate on the ``event_date`` partition column."""
        return f"event_date >= '{self.first.isoformat()}' AND event_date <= '{self.last.isoformat()}'"

    def __str__(self) -> str:
        return self.first.isoformat() if self.first == self.last else f"{self.first}...{self.last}"


def event_date() -> pl.Expr:
    return pl.col("ts").dt.convert_time_zone("UTC").dt.date().alias("event_date")


def contiguous(dates: Iterable[date]) -> list[Days]:
    """The fewest inclusive ranges covering exactly ``dates``."""
    ranges: list[Days] = []
    for day in sorted(set(dates)):
        if ranges and day == ranges[-1].last + timedelta(days=1):
            ranges[-1] = Days(ranges[-1].first, day)
        else:
            ranges.append(Days(day, day))
    return ranges


def stale_days(ledger: pl.DataFrame, materialized_at: Mapping[date, datetime]) -> list[date]:
    """Days with landing files parsed after the day's partition was last materialized (or never).

    ``ledger`` has one row per parsed landing file with ``event_dates`` and ``processed_at``.
    """
    if ledger.is_empty():
        return []
    newest = (ledger.explode("event_dates").drop_nulls("event_dates")
              .group_by("event_dates").agg(pl.col("processed_at").max()))
    return sorted(day for day, parsed in newest.iter_rows()
                  if day not in materialized_at or parsed > materialized_at[day])
