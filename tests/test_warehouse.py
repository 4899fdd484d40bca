"""``emissions`` in warehouse.duckdb is a view over a Delta table's current files: SQL clients see
each new version on their next connection, and a reader already open keeps a consistent one."""

from datetime import date, datetime, timezone

import polars as pl

from carbon_lake import warehouse
from carbon_lake.contracts import EMISSIONS_COLUMNS, EMISSIONS_SCHEMA
from carbon_lake.days import Days
from carbon_lake.lake import PARTITION, data_files, frame_types, replace_days


def lines(day: date, co2e: float, count: int) -> pl.DataFrame:
    types = frame_types(EMISSIONS_SCHEMA)
    values = {"source_id": "meter-1", "ts": datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc),
              "scope": 2, "co2e_kg": co2e, "event_date": day, "factor_id": "f", "method": "location"}
    return pl.DataFrame({name: [values.get(name, None if name != "event_id" else f"e{i}") for i in range(count)]
                         for name in EMISSIONS_COLUMNS}, schema=types)


def publish(table, path) -> None:
    warehouse.replace_parquet_view(path, "emissions", data_files(table), EMISSIONS_SCHEMA, PARTITION)


def test_the_view_follows_the_delta_table_and_an_open_reader_keeps_its_version(tmp_path):
    table, path = tmp_path / "gold" / "emissions", tmp_path / "warehouse.duckdb"
    first, second = date(2026, 11, 20), date(2026, 11, 21)
    replace_days(table, pl.concat([lines(first, 1.5, 3), lines(second, 2.0, 2)]), EMISSIONS_SCHEMA,
                 Days(first, second))
    publish(table, path)
    total = "SELECT event_date, count(*) AS n, sum(co2e_kg) AS kg FROM emissions GROUP BY 1 ORDER BY 1"
    assert warehouse.query(path, total).rows() == [(first, 3, 4.5), (second, 2, 4.0)]

    with warehouse.connect(path) as reader:
        replace_days(table, lines(second, 10.0, 1), EMISSIONS_SCHEMA, Days(second, second))  # late data for one day
        publish(table, path)
        assert reader.sql(total).fetchall() == [(first, 3, 4.5), (second, 2, 4.0)], "the open reader's version"
    assert warehouse.query(path, total).rows() == [(first, 3, 4.5), (second, 1, 10.0)], "the next reader's"

    described = warehouse.query(path, "SELECT column_name, column_type FROM (DESCRIBE emissions)").rows()
    assert [name for name, _ in described] == EMISSIONS_COLUMNS
    assert dict(described)["ts"] == "TIMESTAMP WITH TIME ZONE" and dict(described)["event_date"] == "DATE"


def test_before_any_emissions_the_view_is_empty_with_the_contract_columns(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    publish(tmp_path / "never-written", path)
    assert warehouse.query(path, "SELECT count(*) AS n FROM emissions").item() == 0
    assert warehouse.query(path, "SELECT * FROM emissions").columns == EMISSIONS_COLUMNS
    assert warehouse.table_counts(path) == {"emissions": 0}
