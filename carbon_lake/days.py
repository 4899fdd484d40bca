"""Event days: the unit of partitioning from silver to gold.

A reading belongs to the UTC date of its ``ts``. Work is done over sets of days (:class:`DaySet`,
a few inclusive ranges), so that a backfill of a year is one pass, and late data for three
scattered days is one run over exactly those three days rather than everything in between.
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

    def holds_ts(self, column: str = "ts") -> pl.Expr:
        """Rows whose timestamp ``column`` falls on one of these days (UTC)."""
        start = datetime.combine(self.first, time(), timezone.utc)
        end = datetime.combine(self.last + timedelta(days=1), time(), timezone.utc)
        return (pl.col(column) >= start) & (pl.col(column) < end)

    def holds_date(self) -> pl.Expr:
        """Rows whose ``event_date`` partition column is one of these days: prunes whole files."""
        return pl.col("event_date").is_between(self.first, self.last)

    def split(self, rows_by_day: Mapping[date, int], max_rows: int) -> list[Days]:
        """These days cut into consecutive ranges of at most ``max_rows`` rows each
        (:meth:`DaySet.split` of this one range: its parts are ranges too)."""
        return [Days(part.first, part.last) for part in DaySet.of(self).split(rows_by_day, max_rows)]

    def predicate(self) -> str:
        """The same days as a Delta Lake predicate on the ``event_date`` partition column."""
        return f"event_date >= '{self.first.isoformat()}' AND event_date <= '{self.last.isoformat()}'"

    def __str__(self) -> str:
        return self.first.isoformat() if self.first == self.last else f"{self.first}...{self.last}"


@dataclass(frozen=True)
class DaySet:
    """Any set of event dates, held as its fewest inclusive ranges (sorted, never adjacent).

    The stages take one, so a run over scattered days reads, replaces and commits those days
    only, in as few slices as their rows allow, and never the days between them."""

    ranges: tuple[Days, ...]

    @classmethod
    def of(cls, days: Days | DaySet | Iterable[date]) -> DaySet:
        if isinstance(days, DaySet):
            return days
        if isinstance(days, Days):
            return cls((days,))
        return cls(tuple(contiguous(days)))

    @classmethod
    def parse(cls, text: str) -> DaySet:
        """Comma-separated days and ranges: ``2026-01-03,2026-02-10...2026-02-12``."""
        return cls.of(d for part in text.split(",") if part.strip() for d in Days.parse(part).dates())

    def __post_init__(self) -> None:
        if not self.ranges:
            raise ValueError("days: expected at least one day, got none")

    @property
    def first(self) -> date:
        return self.ranges[0].first

    @property
    def last(self) -> date:
        return self.ranges[-1].last

    def dates(self) -> list[date]:
        return [d for days in self.ranges for d in days.dates()]

    def keys(self) -> list[str]:
        return [d.isoformat() for d in self.dates()]

    def within(self, days: Days) -> DaySet | None:
        """The days of this set that ``days`` holds (None when none)."""
        inside = [d for d in self.dates() if days.first <= d <= days.last]
        return DaySet.of(inside) if inside else None

    def holds_ts(self, column: str = "ts") -> pl.Expr:
        return _any(days.holds_ts(column) for days in self.ranges)

    def holds_date(self) -> pl.Expr:
        return _any(days.holds_date() for days in self.ranges)

    def months(self) -> DaySet:
        """Every day of the calendar months these days fall in."""
        return DaySet.of(d for days in self.ranges
                         for d in Days(days.first.replace(day=1), month_end(days.last)).dates())

    def split(self, rows_by_day: Mapping[date, int], max_rows: int) -> list[DaySet]:
        """These days cut into consecutive sets of at most ``max_rows`` rows each (a day above it
        is a set alone), so memory is bounded by ``max_rows`` and scattered small days share one
        slice, one read and one commit. Days without rows are covered too: replacing must empty them."""
        parts: list[list[date]] = []
        held = 0
        for day in self.dates():
            rows = rows_by_day.get(day, 0)
            if parts and held + rows <= max_rows:
                parts[-1].append(day)
                held += rows
            else:
                parts.append([day])
                held = rows
        return [DaySet.of(part) for part in parts]

    def predicate(self) -> str:
        """The same days as a Delta Lake predicate on the ``event_date`` partition column."""
        return " OR ".join(f"({days.predicate()})" for days in self.ranges)

    def __str__(self) -> str:
        return ",".join(str(days) for days in self.ranges)


def _any(exprs: Iterable[pl.Expr]) -> pl.Expr:
    return pl.any_horizontal(list(exprs))


def month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


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
