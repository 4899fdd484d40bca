"""Scattered days: one set, replaced in one commit per slice, the days between them untouched."""

from datetime import date, datetime, timezone

import polars as pl
import pytest

from carbon_lake.contracts import QUARANTINE_SCHEMA
from carbon_lake.days import Days, DaySet
from carbon_lake.lake import read_table, replace_days, rows_by_day, table_version, write_table


def test_a_set_is_its_fewest_ranges_and_reads_back_from_its_text():
    days = DaySet.of([date(2026, 3, 2), date(2026, 3, 1), date(2026, 3, 9), date(2026, 3, 3)])
    assert str(days) == "2026-03-01...2026-03-03,2026-03-09"
    assert DaySet.parse(str(days)) == days
    assert days.within(Days(date(2026, 3, 3), date(2026, 3, 31))) == DaySet.parse("2026-03-03,2026-03-09")
    assert str(DaySet.parse("2026-01-31,2026-03-02").months()) == "2026-01-01...2026-01-31,2026-03-01...2026-03-31"
    with pytest.raises(ValueError, match="partition"):
        DaySet.parse("2026-13-01")


def test_split_bounds_the_rows_of_each_slice_and_lets_small_scattered_days_share_one():
    days = DaySet.parse("2026-01-01,2026-02-01,2026-03-01,2026-04-01")
    rows = {date(2026, 1, 1): 10, date(2026, 2, 1): 10, date(2026, 3, 1): 100, date(2026, 4, 1): 5}
    parts = days.split(rows, 50)
    assert [str(p) for p in parts] == ["2026-01-01,2026-02-01", "2026-03-01", "2026-04-01"]
    assert sum(len(p.dates()) for p in parts) == 4


def _rows(*days: date) -> pl.DataFrame:
    n = len(days)
    return pl.DataFrame({"stage": ["silver"] * n, "landing_file": [f"f{i}" for i in range(n)],
                         "landing_offset": list(range(n)), "topic": ["t"] * n, "source_id": ["s"] * n,
                         "event_id": [str(i) for i in range(n)], "metric": ["kwh"] * n, "reason": ["r"] * n,
                         "raw": [b"x"] * n, "quarantined_at": [datetime.now(timezone.utc)] * n,
                         "event_date": list(days), "reason_code": ["ts_out_of_range"] * n})


def test_replacing_scattered_days_is_one_commit_that_leaves_the_days_between_alone(tmp_path):
    table = tmp_path / "quarantine"
    jan, feb, mar = date(2026, 1, 5), date(2026, 2, 5), date(2026, 3, 5)
    write_table(table, _rows(jan, feb, mar), QUARANTINE_SCHEMA, "append", partition_by="event_date")
    before = table_version(table)
    replace_days(table, _rows(jan, jan, mar), QUARANTINE_SCHEMA, DaySet.of([jan, mar]))
    assert table_version(table) == before + 1
    assert rows_by_day(table) == {jan: 2, feb: 1, mar: 1}
    assert read_table(table, QUARANTINE_SCHEMA).filter(pl.col("event_date") == feb)["landing_file"].to_list() == ["f1"]


def test_a_day_written_in_pieces_is_one_commit_and_a_failing_piece_commits_nothing(tmp_path):
    """A day too big for one frame is computed piece by piece while delta-rs writes it: readers
    see the old day or the whole new one, never part of it."""
    table = tmp_path / "quarantine"
    jan, feb = date(2026, 1, 5), date(2026, 2, 5)
    write_table(table, _rows(jan, feb), QUARANTINE_SCHEMA, "append", partition_by="event_date")
    before = table_version(table)

    replace_days(table, (_rows(*[jan] * n) for n in (2, 0, 3)), QUARANTINE_SCHEMA, Days(jan, jan))
    assert table_version(table) == before + 1
    assert rows_by_day(table) == {jan: 5, feb: 1}

    def failing():
        yield _rows(jan)
        raise ValueError("piece 2: metrics.kwh: expected a number, got 'x'")

    with pytest.raises(ValueError, match="piece 2"):
        replace_days(table, failing(), QUARANTINE_SCHEMA, Days(jan, jan))
    assert table_version(table) == before + 1 and rows_by_day(table) == {jan: 5, feb: 1}
