"""Silver: bronze readings deduplicated, validated with pandera, in canonical units.

Order matters: duplicates are absorbed first (the idempotency key is ``(source_id, event_id)``,
the first landed copy wins), so a redelivered bad reading is quarantined once, not per copy.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl

from carbon_lake.contracts import BRONZE_SCHEMA, SILVER_SCHEMA, ContractError
from carbon_lake.days import Days, DaySet, event_date
from carbon_lake.lake import data_files, rows_by_day
from carbon_lake.regions import region_mapping
from carbon_lake.rules import READING_KEY as KEY, ROW_KEY
from carbon_lake.units import units_for
from carbon_lake.vocabulary import load_vocabulary

BRONZE_COLUMNS = [f.name for f in BRONZE_SCHEMA]
SILVER_COLUMNS = [f.name for f in SILVER_SCHEMA]


def _finite(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(pl.col(data.key).is_finite())


def _sign_allowed(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select((pl.col("quantity") >= 0) | ~pl.col("non_negative"))


CHECK_CODES = {"expected a finite number": "value_not_finite", "expected a value >= 0 for this activity": "quantity_negative"}
CHECK_ORDER = {check: order for order, check in enumerate(CHECK_CODES)}

# The silver contract beyond types: what a reading must satisfy to be counted.
READING_CHECKS = pa.DataFrameSchema(
    {
        "source_id": pa.Column(str, nullable=False),
        "event_id": pa.Column(str, nullable=False),
        "ts": pa.Column(nullable=False),
        "value": pa.Column(float, checks=pa.Check(_finite, name="expected a finite number"), nullable=False),
        "quantity": pa.Column(float, checks=pa.Check(_sign_allowed, name="expected a value >= 0 for this activity"), nullable=False),
    },
    strict=False,
)


def first_landed(bronze: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """``(rows of the first landed copy of each reading, conflicting copies with a reason, identical copies)``.

    A redelivered reading is byte-for-byte the same and changes nothing. A later message that
    reuses a ``(source_id, event_id)`` with different content is not silently ignored: its rows
    go to quarantine, naming where the kept copy landed.
    """
    copy = [*KEY, "landing_file", "landing_offset"]
    # Most readings arrive once: find the few keys with more than one copy by the key and lineage
    # columns alone, and compare contents only for those (the content strings are the cost).
    repeated = bronze.select(copy).unique().group_by(KEY).len().filter(pl.col("len") > 1).select(KEY)
    if repeated.is_empty():
        return bronze, bronze.clear().with_columns(pl.lit(None, pl.Utf8).alias("reason")), 0
    single = bronze.join(repeated, on=KEY, how="anti")
    kept, conflicts, identical_rows = _first_copies(bronze.join(repeated, on=KEY, how="semi"))
    return pl.concat([single, kept]), conflicts, identical_rows


def _first_copies(bronze: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """:func:`first_landed` for rows whose key has several copies."""
    copy = [*KEY, "landing_file", "landing_offset"]
    copies = bronze.group_by(copy).agg(
        pl.first("received_at"),
        pl.concat_str([pl.col("ts").cast(pl.Utf8), "metric", pl.col("value").cast(pl.Utf8), pl.col("unit").fill_null("")],
                      separator="|").sort().str.join(";").alias("content"),
    )
    ranked = copies.sort("received_at", "landing_file", "landing_offset").with_columns(
        pl.int_range(pl.len()).over(KEY).alias("copy_rank"),
        pl.col("content").first().over(KEY).alias("kept_content"),
        pl.format("{}#{}", pl.col("landing_file").first().over(KEY), pl.col("landing_offset").first().over(KEY)).alias("kept_at"),
    )
    winners = ranked.filter(pl.col("copy_rank") == 0).select(copy)
    conflicting = ranked.filter((pl.col("copy_rank") > 0) & (pl.col("content") != pl.col("kept_content")))
    identical = ranked.filter((pl.col("copy_rank") > 0) & (pl.col("content") == pl.col("kept_content")))
    conflicts = bronze.join(conflicting.select(*copy, "kept_at"), on=copy).with_columns(
        pl.format("(source_id, event_id): expected new content or an exact redelivery, got different content for a "
                  "reading already landed at {}; the first landed copy is kept", "kept_at").alias("reason")
    ).drop("kept_at")
    identical_rows = bronze.join(identical.select(copy), on=copy, how="semi").height
    return bronze.join(winners, on=copy, how="semi"), conflicts, identical_rows


def _over_keys(files: list[str], sql: str, params: dict[str, object]) -> pl.DataFrame:
    """Run ``sql`` over the key columns (as ``keyed``) of a day-partitioned table's ``files``.

    DuckDB reads just those columns and spills to disk past its memory limit, so a question
    about every key in the lake does not need the lake's keys in memory."""
    with duckdb.connect() as con:
        con.execute("SET memory_limit = '1GB'")
        return con.sql(
            "WITH keyed AS (SELECT source_id, event_id, event_date, * EXCLUDE (source_id, event_id, event_date)"
            " FROM read_parquet($files, hive_partitioning = true, hive_types = {'event_date': DATE}))" + sql,
            params={"files": files, **params}).pl()


def cross_day_copies(bronze_files: list[str], days: Days | DaySet) -> pl.DataFrame:
    """``(source_id, event_id, event_date)`` of every copy of a reading that also has a copy on
    another day, for the readings of ``days``: what :func:`first_landed` must see beyond a day.

    Honest devices never do this, so the answer is almost always empty; but finding that out
    means comparing the range's keys with every other day's.
    """
    if not bronze_files:
        return pl.DataFrame(schema={"source_id": pl.Utf8, "event_id": pl.Utf8, "event_date": pl.Date})
    return _over_keys(bronze_files,
                      ", inside AS (SELECT DISTINCT source_id, event_id, event_date FROM keyed"
                      "             WHERE list_contains($days, event_date))"
                      ", other AS (SELECT DISTINCT k.source_id, k.event_id, k.event_date FROM keyed k JOIN inside i"
                      "            USING (source_id, event_id) WHERE k.event_date <> i.event_date)"
                      " SELECT * FROM other UNION SELECT * FROM inside SEMI JOIN other USING (source_id, event_id)",
                      {"days": DaySet.of(days).dates()})


def repeated_keys(silver: Path, days: Days | DaySet | None = None, lookup_below: float = 0.1) -> pl.DataFrame:
    """``(source_id, event_id, metric, copies)`` for every row key (:data:`ROW_KEY`: one metric of
    one reading) that the Delta table ``silver`` holds more than once, on any days; with ``days``,
    only the repeated keys held on one of those days.

    The days a run wrote are the only place a new repeat can come from (the other days are as
    they were when their own run checked them), so a run asks about its days. When they hold
    less than ``lookup_below`` of the table's rows, their keys are looked up among the lake's
    (a scan against a small hash table); otherwise every key is grouped, which DuckDB spills to
    disk past its memory limit, where looking up most of the lake in itself would not fit."""
    files = data_files(silver)
    if not files:
        return pl.DataFrame(schema={"source_id": pl.Utf8, "event_id": pl.Utf8, "metric": pl.Utf8, "copies": pl.Int64})
    keys, source, having, params = ", ".join(ROW_KEY), "keyed", "", {}
    if days is not None:
        params = {"days": DaySet.of(days).dates()}
        by_day = rows_by_day(silver)
        if sum(by_day.get(day, 0) for day in params["days"]) < lookup_below * sum(by_day.values()):
            source = (f"keyed SEMI JOIN (SELECT DISTINCT {keys} FROM keyed WHERE list_contains($days, event_date))"
                      f" USING ({keys})")
        else:
            having = " AND bool_or(list_contains($days, event_date))"
    return _over_keys(files, f" SELECT {keys}, count(*) AS copies FROM {source}"
                             f" GROUP BY ALL HAVING count(*) > 1{having} ORDER BY ALL", params)



def unit_mapping(pairs: pl.DataFrame, factors_dir: Path) -> pl.DataFrame:
    """For each distinct ``(metric, unit)``: activity, canonical unit and affine conversion, or why not."""
    vocabulary = load_vocabulary(factors_dir)
    units = units_for(factors_dir)
    out = []
    for metric, unit in pairs.iter_rows():
        entry = {"metric": metric, "unit_key": unit or "", "activity": None, "canonical_unit": None,
                 "scale": None, "offset": None, "non_negative": None, "mapping_error": None, "mapping_code": None}
        try:
            activity, suffix = vocabulary.split_metric(metric)
        except ContractError as exc:
            entry.update(mapping_error=str(ContractError(f"metrics.{metric}", metric, exc.expected)), mapping_code=exc.code)
            out.append(entry)
            continue
        try:
            if suffix and unit and units.parse(suffix) != units.parse(unit):
                raise ContractError("unit", unit, f"the unit its name gives ({suffix}) or no name suffix",
                                    code="unit_mismatch")
            given = unit or suffix or activity.canonical_unit
            canonical = units.canonical_for(given, activity.canonical_units)
            scale, offset = units.affine(given, canonical)
        except ContractError as exc:
            entry.update(mapping_error=str(ContractError(f"metrics.{metric}.unit", exc.value, exc.expected)),
                         mapping_code=exc.code)
        else:
            entry.update(activity=activity.name, canonical_unit=canonical, scale=scale,
                         offset=offset, non_negative=activity.non_negative)
        out.append(entry)
    return pl.DataFrame(out, schema={"metric": pl.Utf8, "unit_key": pl.Utf8, "activity": pl.Utf8,
                                     "canonical_unit": pl.Utf8, "scale": pl.Float64, "offset": pl.Float64,
                                     "non_negative": pl.Boolean, "mapping_error": pl.Utf8, "mapping_code": pl.Utf8})


def to_silver(bronze: pl.DataFrame, factors_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """``(silver, rejected rows with reason and reason_code, duplicate rows absorbed)``.

    A reading's region is checked here, before pricing, so that an unknown code is quarantined
    rather than priced at a coarser region (see :mod:`carbon_lake.regions`); silver holds the
    region priced, bronze the region as sent."""
    unique, conflicts, duplicates = first_landed(bronze.with_columns(pl.col("region").cast(pl.Utf8)))
    mapping = unit_mapping(unique.select("metric", "unit").unique(), factors_dir)
    mapped = (
        unique.with_columns(pl.col("unit").fill_null("").alias("unit_key"))
        .join(mapping, on=["metric", "unit_key"], how="left")
        .join(region_mapping(unique["region"], factors_dir), on="region", how="left")
        .with_columns(pl.coalesce("mapping_error", "region_error").alias("reason"),
                      pl.when(pl.col("mapping_error").is_not_null()).then("mapping_code")
                      .when(pl.col("region_error").is_not_null()).then(pl.lit("region_unknown")).alias("reason_code"))
    )
    unmappable = mapped.filter(pl.col("reason").is_not_null())
    candidates = mapped.filter(pl.col("reason").is_null()).drop("reason", "reason_code").with_columns(
        (pl.col("value") * pl.col("scale") + pl.col("offset")).alias("quantity"),
        pl.col("region_priced").alias("region"),
    ).with_row_index("_row")
    failed = _pandera_failures(candidates)
    rejected = pl.concat(
        [conflicts.select(*BRONZE_COLUMNS, "reason", pl.lit("reading_conflict").alias("reason_code")),
         unmappable.select(*BRONZE_COLUMNS, "reason", "reason_code"),
         candidates.join(failed, on="_row").select(*BRONZE_COLUMNS, "reason", "reason_code")]
    )
    silver = candidates.join(failed, on="_row", how="anti").with_columns(event_date()).select(SILVER_COLUMNS)
    return silver, rejected, duplicates


def _pandera_failures(frame: pl.DataFrame) -> pl.DataFrame:
    """``(_row, reason, reason_code)`` for every row that fails :data:`READING_CHECKS`; a row failing
    several checks gets the code of the first in :data:`CHECK_CODES` (a NaN value also fails the sign)."""
    empty = pl.DataFrame(schema={"_row": pl.UInt32, "reason": pl.Utf8, "reason_code": pl.Utf8})
    try:
        READING_CHECKS.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.filter(pl.col("index").is_not_null())
        return (
            cases.with_columns(
                pl.format("{}: {}, got {}", "column", "check", "failure_case").alias("reason"),
                pl.col("index").cast(pl.UInt32).alias("_row"),
            )
            .group_by("_row").agg(pl.col("reason").unique().sort().str.join("; "),
                                  pl.col("check").replace_strict(CHECK_CODES, default="field_invalid")
                                  .sort_by(pl.col("check").replace_strict(CHECK_ORDER, default=len(CHECK_ORDER)))
                                  .first().alias("reason_code"))
        )
    return empty
