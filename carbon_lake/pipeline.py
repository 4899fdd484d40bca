"""The flow's stages as plain functions: landing -> bronze -> silver -> emissions -> gold.

Each stage reads the one before it, writes its own tables and returns what it did, so the
Dagster assets are a line each and the numbers they report are the ones the stage computed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pyarrow as pa
from pandera.polars import DataFrameSchema

from carbon_lake import warehouse
from carbon_lake.basis import BASIS_MIX_SQL
from carbon_lake.bronze import parse_each
from carbon_lake.contracts import (BRONZE_TABLE_SCHEMA, DEVICE_STATUS_SCHEMA, EMISSIONS_COLUMNS, EMISSIONS_SCHEMA,
                                   FIRST_EVENT_DATE, QUARANTINE_SCHEMA, SILVER_SCHEMA, UNSYNCED_CLOCK)
from carbon_lake.days import Days, DaySet, contiguous, event_date
from carbon_lake.emissions import add_up_coverage, apply_factors, scope_totals
from carbon_lake.factors import FactorRelease, all_factors, load_release
from carbon_lake.kpis import parse_weights, sustainability_score, vertical_kpis
from carbon_lake.lake import (PARTITION, data_files, read_table, replace_days, rows_by_day, scan_table,
                              table_version, write_table)
from carbon_lake.landing import list_landing_files
from carbon_lake.quarantine import STAGES, quarantine_frame, reasons, with_raw
from carbon_lake.settings import Settings
from carbon_lake.rules import LOCATION, MARKET, READING_KEY
from carbon_lake.silver import cross_day_copies, to_silver
from carbon_lake.site_data import SiteData, load_site_data
from carbon_lake.validation import EMISSIONS_CONTRACT, SILVER_CONTRACT, combine_violations, violations

LEDGER_SCHEMA = pa.schema(
    [("landing_file", pa.string()), ("bronze_rows", pa.int64()), ("rejected", pa.int64()),
     ("processed_at", pa.timestamp("us", tz="UTC")), ("event_dates", pa.list_(pa.date32()))]
)


@dataclass(frozen=True)
class Tables:
    """Paths of the lake's Delta tables, derived from the settings."""

    settings: Settings

    @property
    def bronze(self) -> Path:
        return self.settings.bronze_dir / "readings"

    @property
    def device_status(self) -> Path:
        return self.settings.bronze_dir / "device_status"

    @property
    def ledger(self) -> Path:
        return self.settings.bronze_dir / "landing_files"

    @property
    def silver(self) -> Path:
        return self.settings.silver_dir / "readings"

    @property
    def emissions(self) -> Path:
        return self.settings.home / "gold" / "emissions"

    def quarantine(self, stage: str) -> Path:
        return self.settings.quarantine_dir / stage


@dataclass
class StageResult:
    rows_in: int
    rows_out: int
    quarantined: dict[str, int] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)
    preview: pl.DataFrame | None = None
    violations: pl.DataFrame | None = None  # the pandera contract's broken rules over the rows written


def read_ledger(settings: Settings) -> pl.DataFrame:
    """One row per parsed landing file: rows, rejects, when it was parsed and the days it holds."""
    return read_table(Tables(settings).ledger, LEDGER_SCHEMA)


def unparsed_landing_files(settings: Settings) -> list[str]:
    """Complete landing files the ledger does not list yet, oldest name first.

    A set difference, not a "newer than" cursor: a file that lands with an older name (another
    host's clock, an upload) is still found."""
    done = set(read_ledger(settings)["landing_file"].to_list())
    return [f for f in list_landing_files(settings.home) if f not in done]


def land_to_bronze(settings: Settings) -> StageResult:
    """Parse every landing file not parsed before; append rows, rejects and the ledger.

    Bronze is appended by landing file and stored by event day (a file holds readings of many
    days); the ledger records which days each file touched, and those are the day partitions
    the runs downstream are for. Files are parsed and appended in slices of about
    ``settings.chunk_rows`` rows, so a backlog of landing files does not have to fit in memory;
    a crash between slices only re-parses files whose rows dedup then absorbs.
    """
    tables = Tables(settings)
    new_files = unparsed_landing_files(settings)
    rows, statuses, quarantined, days, preview = 0, 0, Counter(), set(), None
    for files, parsed, rejected, status in _parsed_slices(settings, new_files):
        bronze, out_of_range = _partitionable(parsed)
        bronze = bronze.with_columns(event_date())
        if not out_of_range.is_empty():
            rejected = pl.concat([rejected, quarantine_frame("bronze", with_raw(settings.home, out_of_range))])
        _append_bronze(tables, files, bronze, rejected)
        if not status.is_empty():
            write_table(tables.device_status, status, DEVICE_STATUS_SCHEMA, "append", partition_by=PARTITION)
        rows, statuses = rows + bronze.height, statuses + status.height
        quarantined.update(reasons(rejected))
        days.update(bronze["event_date"].unique().to_list())
        preview = bronze.head(10) if preview is None or preview.is_empty() else preview
    if statuses:
        warehouse.replace_parquet_view(settings.warehouse_path, "device_status", data_files(tables.device_status),
                                       DEVICE_STATUS_SCHEMA, PARTITION)
    return StageResult(
        rows_in=len(new_files), rows_out=rows, quarantined=dict(quarantined), preview=preview,
        details={"new_landing_files": len(new_files), "status_messages": statuses,
                 "event_days": len(days), "event_day_ranges": [str(r) for r in contiguous(days)][:50],
                 "bronze_version": table_version(tables.bronze)},
    )


def _parsed_slices(settings: Settings,
                   files: list[str]) -> Iterator[tuple[list[str], pl.DataFrame, pl.DataFrame, pl.DataFrame]]:
    """``(files, bronze rows, rejects, device status rows)`` for consecutive groups of ``files`` of
    about ``settings.chunk_rows`` rows each (a bigger file is a group alone)."""
    group: list[tuple[str, pl.DataFrame, pl.DataFrame, pl.DataFrame]] = []
    for index, part in enumerate(parse_each(settings.home, files, settings.decode_workers)):
        group.append(part)
        if sum(done[1].height for done in group) >= settings.chunk_rows or index == len(files) - 1:
            yield ([done[0] for done in group], pl.concat([done[1] for done in group]),
                   pl.concat([done[2] for done in group]), pl.concat([done[3] for done in group]))
            group = []


def _append_bronze(tables: Tables, files: list[str], bronze: pl.DataFrame, rejected: pl.DataFrame) -> None:
    """Append the parsed rows and rejects of ``files``, then list the files in the ledger."""
    write_table(tables.bronze, bronze, BRONZE_TABLE_SCHEMA, "append", partition_by=PARTITION)
    if not rejected.is_empty():
        write_table(tables.quarantine("bronze"), rejected, QUARANTINE_SCHEMA, "append")
    per_file = bronze.group_by("landing_file").agg(pl.len().alias("bronze_rows"),
                                                   pl.col("event_date").unique().sort().alias("event_dates"))
    ledger = (
        pl.DataFrame({"landing_file": files})
        .join(per_file, on="landing_file", how="left")
        .join(rejected.group_by("landing_file").len().rename({"len": "rejected"}), on="landing_file", how="left")
        .select("landing_file", pl.col("bronze_rows").fill_null(0), pl.col("rejected").fill_null(0),
                pl.lit(datetime.now(timezone.utc)).alias("processed_at"), "event_dates")
    )
    write_table(tables.ledger, ledger, LEDGER_SCHEMA, "append")


def _partitionable(bronze: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(rows with a day partition, rows that cannot be dated, with a reason)``.

    A row cannot be dated when its time is before the first day or after tomorrow, or when the
    device says its clock was never synchronized (tag ``clock=unsynced``, see firmware/README.md):
    such a ts is the device's uptime, not a time, even when it happens to look plausible.
    """
    last = datetime.now(timezone.utc).date() + timedelta(days=1)
    ts = pl.col("ts").cast(pl.Utf8).fill_null("none")
    # Bronze's tags are json.dumps(sort_keys=True) text, where this pair can only be the tag itself
    # (a quote inside a value is escaped), and matching text is 15x faster than parsing JSON.
    unsynced = pl.col("tags").str.contains(f'"clock": "{UNSYNCED_CLOCK}"', literal=True).fill_null(False)
    inside = Days(FIRST_EVENT_DATE, last).holds_ts().fill_null(False) & ~unsynced  # no row falls between the two
    outside = bronze.filter(~inside).with_columns(
        pl.when(unsynced).then(pl.format("ts: the device's clock was not synchronized (tags.clock=unsynced), so {} "
                                         "is its uptime, not the time of the reading", ts))
        .otherwise(pl.format("ts: expected a time between {} and {} (UTC), got {}", pl.lit(str(FIRST_EVENT_DATE)),
                             pl.lit(str(last)), ts)).alias("reason"),
        pl.when(unsynced).then(pl.lit("clock_unsynced")).otherwise(pl.lit("ts_out_of_range")).alias("reason_code"))
    return bronze.filter(inside), outside


@dataclass
class _Totals:
    """What the slices of one stage call add up to, for its :class:`StageResult`."""

    rows_in: int = 0
    rows_out: int = 0
    quarantined: Counter = field(default_factory=Counter)
    by_day: dict[str, float] = field(default_factory=dict)
    violations: list[pl.DataFrame] = field(default_factory=list)
    preview: pl.DataFrame | None = None
    absorbed: int = 0  # silver: duplicate copies of a reading
    co2e: Counter = field(default_factory=Counter)  # emissions: kg CO2e by scope 2 method
    coverage: list[pl.DataFrame] = field(default_factory=list)  # emissions: factor coverage of each piece

    def add(self, rows_in: int, written: pl.DataFrame, rejected: pl.DataFrame, by_day: pl.Expr,
            contract: DataFrameSchema, absorbed: int = 0) -> None:
        self.rows_in += rows_in
        self.absorbed += absorbed
        self.rows_out += written.height
        self.quarantined.update(reasons(rejected))
        for day, value in _by_day(written, by_day).items():  # a day's pieces add up
            self.by_day[day] = round(self.by_day.get(day, 0.0) + value, 3)
        self.violations.append(violations(contract, written))
        if self.preview is None or self.preview.is_empty():
            self.preview = written.head(10)

    def result(self, details: dict[str, object]) -> StageResult:
        return StageResult(rows_in=self.rows_in, rows_out=self.rows_out, quarantined=dict(self.quarantined),
                           details=details, preview=self.preview, violations=combine_violations(self.violations))


def _by_reading(rows: pl.DataFrame, max_rows: int) -> Iterator[pl.DataFrame]:
    """``rows`` in pieces of about ``max_rows``, every row of one reading in the same piece.

    A day partition is the unit a stage replaces, but a day can hold more rows than fit in
    memory through a stage's joins; pieces cut by a hash of the reading key keep what the
    stages decide per reading (which copy landed first, which lines a reading makes) whole."""
    pieces = -(-rows.height // max_rows)
    if pieces <= 1:
        yield rows
        return
    piece_of = pl.struct(READING_KEY).hash(seed=0) % pieces
    keyed = rows.with_columns(piece_of.alias("_piece"))
    for piece in range(pieces):
        yield keyed.filter(pl.col("_piece") == piece).drop("_piece")


def bronze_to_silver(settings: Settings, days: Days | DaySet) -> StageResult:
    """Silver for ``days``: deduplicated, validated, canonical units; other days are untouched.

    The range is done in slices of about ``settings.chunk_rows`` bronze rows, each replaced in
    one commit; a day with more rows is computed in pieces that stream into its commit. So
    memory grows with neither the range nor the size of a day. The first landed copy of a reading wins
    across all days: copies of the same ``(source_id, event_id)`` dated on other days are found
    through the key columns (:func:`cross_day_copies`) and read too, so a reused id is
    quarantined in whichever day holds the later copy.
    """
    tables, days = Tables(settings), DaySet.of(days)
    bronze = scan_table(tables.bronze, BRONZE_TABLE_SCHEMA)
    copies = cross_day_copies(data_files(tables.bronze), days)
    totals = _Totals()
    for part in days.split(rows_by_day(tables.bronze), settings.chunk_rows):
        on_days = bronze.filter(part.holds_date()).collect()
        elsewhere = copies.filter(~part.holds_date()).join(copies.filter(part.holds_date()).select(READING_KEY), on=READING_KEY,
                                                            how="semi")
        if not elsewhere.is_empty():  # rarely: an id reused on another day
            others = Days(min(elsewhere["event_date"]), max(elsewhere["event_date"]))
            on_days = pl.concat([on_days, bronze.filter(others.holds_date() & ~part.holds_date())
                                 .join(elsewhere.lazy().select(READING_KEY).unique(), on=READING_KEY, how="semi").collect()])
        rejects: list[pl.DataFrame] = []
        replace_days(tables.silver, _silver_pieces(settings, on_days, part, totals, rejects), SILVER_SCHEMA, part)
        replace_days(tables.quarantine("silver"), quarantine_frame("silver", with_raw(settings.home, pl.concat(rejects))),
                     QUARANTINE_SCHEMA, part)
    return totals.result({"days": str(days), "duplicates_absorbed": totals.absorbed, "readings_by_day": totals.by_day,
                          "bronze_version": table_version(tables.bronze),
                          "silver_version": table_version(tables.silver)})


def _silver_pieces(settings: Settings, on_days: pl.DataFrame, part: DaySet, totals: _Totals,
                   rejects: list[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Silver of ``part`` from its bronze rows ``on_days``, piece by piece as :func:`replace_days`
    writes them; the counts go to ``totals`` and the rows rejected to ``rejects``."""
    for piece in _by_reading(on_days, settings.chunk_rows):
        silver, rejected, absorbed = to_silver(piece.drop("event_date"), settings.factors_dir)
        silver = silver.filter(part.holds_ts())
        rejected = rejected.filter(part.holds_ts()).with_columns(event_date())
        totals.add(piece.filter(part.holds_date()).height, silver, rejected, pl.len(), SILVER_CONTRACT, absorbed)
        rejects.append(rejected)
        yield silver


def scan_silver(settings: Settings, days: Days | DaySet | None = None) -> pl.LazyFrame:
    """Silver readings, of ``days`` only when given (partition pruning reads just those files)."""
    scan = scan_table(Tables(settings).silver, SILVER_SCHEMA)
    return scan if days is None else scan.filter(days.holds_date())


def scan_device_status(settings: Settings) -> pl.LazyFrame:
    """Every status message devices sent (``bronze/device_status``)."""
    return scan_table(Tables(settings).device_status, DEVICE_STATUS_SCHEMA)


def scan_emissions(settings: Settings) -> pl.LazyFrame:
    return scan_table(Tables(settings).emissions, EMISSIONS_SCHEMA)


def silver_to_emissions(settings: Settings, days: Days | DaySet) -> StageResult:
    """Apply the pinned factor release to silver of ``days``: replace those days of the
    ``emissions`` table (slice by slice and piece by piece, like silver), of its quarantine and of ``factor_coverage``,
    then point the warehouse's ``emissions`` view at the new version."""
    tables, days = Tables(settings), DaySet.of(days)
    release = load_release(settings.factors_dir, settings.factor_release)
    site_data = load_site_data(settings.factors_dir, settings.site_data_release)
    totals = _Totals()
    for part in days.split(rows_by_day(tables.silver), settings.chunk_rows):
        unmatched: list[pl.DataFrame] = []
        silver = scan_silver(settings, part).collect()
        replace_days(tables.emissions, _priced_pieces(settings, silver, release, site_data, totals, unmatched),
                     EMISSIONS_SCHEMA, part)
        replace_days(tables.quarantine("emissions"),
                     quarantine_frame("emissions", with_raw(settings.home, pl.concat(unmatched).with_columns(event_date()))),
                     QUARANTINE_SCHEMA, part)
    coverage_table = add_up_coverage(pl.concat(totals.coverage))
    warehouse.replace_range(settings.warehouse_path, {"factor_coverage": coverage_table}, "event_date",
                            _bounds(days))
    warehouse.replace_parquet_view(settings.warehouse_path, "emissions", data_files(tables.emissions),
                                   EMISSIONS_SCHEMA, PARTITION)
    warehouse.replace_view(settings.warehouse_path, "gwp_basis_mix", BASIS_MIX_SQL)
    return totals.result({"days": str(days), "factor_release": release.version, "gwp_basis": release.gwp_basis,
                          "site_data_version": site_data.version,
                          "silver_version": table_version(tables.silver),
                          "emissions_version": table_version(tables.emissions),
                          "co2e_kg_location": totals.co2e["location"], "co2e_kg_market": totals.co2e["market"],
                          "co2e_kg_by_day": totals.by_day, "factor_coverage": _coverage_share(coverage_table)})


def _priced_pieces(settings: Settings, silver: pl.DataFrame, release: FactorRelease, site_data: SiteData,
                   totals: _Totals, unmatched: list[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Emission lines of ``silver``, piece by piece as :func:`replace_days` writes them; the counts,
    sums and coverage go to ``totals`` and the readings no factor covers to ``unmatched``."""
    location = pl.col("co2e_kg").filter(LOCATION).sum()  # the per-day series: nothing counted twice
    for piece in _by_reading(silver, settings.chunk_rows):
        priced = apply_factors(piece, release, settings.factors_dir, site_data)
        written = priced.emissions.select(EMISSIONS_COLUMNS)
        totals.add(piece.height, written, priced.unmatched, location, EMISSIONS_CONTRACT)
        totals.co2e.update(written.select(location.alias("location"),
                                          pl.col("co2e_kg").filter(MARKET).sum().alias("market")).row(0, named=True))
        totals.coverage.append(priced.coverage)
        unmatched.append(priced.unmatched)
        yield written


def _by_day(frame: pl.DataFrame, value: pl.Expr) -> dict[str, float]:
    """``{event date: value}`` in date order, for the per-day series in run metadata."""
    daily = frame.group_by("event_date").agg(value.alias("value")).sort("event_date")
    return {day.isoformat(): round(float(total), 3) for day, total in daily.iter_rows()}


def _coverage_share(coverage: pl.DataFrame) -> float:
    """Share of required emission lines that found a factor (1.0 when there were none to price).

    Optional lines (T&D losses) are left out: their gaps are expected and listed in ``factor_coverage``.
    """
    required = coverage.filter("required")
    lines = int(required["lines"].sum() or 0)
    return float(required["covered"].sum()) / lines if lines else 1.0


def emissions_to_scope_totals(settings: Settings, days: Days | DaySet) -> StageResult:
    """Recompute ``scope_totals`` for the calendar months that ``days`` fall in."""
    months = DaySet.of(days).months()
    lines = scan_emissions(settings).filter(months.holds_date())
    totals = scope_totals(lines).collect(engine="streaming")
    warehouse.replace_range(settings.warehouse_path, {"scope_totals": totals}, "month", _bounds(months))
    return StageResult(rows_in=int(lines.select(pl.len()).collect().item()), rows_out=totals.height,
                       preview=totals.head(10),
                       details={"days": str(days), "months": sorted({f"{d:%Y-%m}" for d in months.dates()}),
                                "co2e_kg_location": float(totals["co2e_kg"].sum() or 0.0),
                                "co2e_kg_market": float(totals["co2e_kg_market"].sum() or 0.0)})


def _bounds(days: DaySet) -> list[tuple[date, date]]:
    return [(span.first, span.last) for span in days.ranges]


def emissions_to_kpis(settings: Settings, days: Days | DaySet | None = None) -> StageResult:
    """Per-vertical KPIs (``vertical_kpis``) and the composite ``sustainability_score``.

    A KPI is a month's sums for one site, so new data for ``days`` changes only their calendar
    months: those are recomputed and replaced, the other months' rows stay. Without ``days`` (or
    before the table exists) every month is. The score then reads the whole table back: its
    terms are placed between the best and worst site-month of all. Lazy: Polars reads only the
    columns and rows the KPIs use, and streams."""
    months = DaySet.of(days).months() if days and warehouse.has_table(settings.warehouse_path, "vertical_kpis") else None
    silver, lines = scan_silver(settings, months), scan_emissions(settings)
    lines = lines if months is None else lines.filter(months.holds_date())
    kpis = vertical_kpis(silver, lines).collect(engine="streaming")
    if months is None:
        warehouse.replace_tables(settings.warehouse_path, {"vertical_kpis": kpis})
    else:
        warehouse.replace_range(settings.warehouse_path, {"vertical_kpis": kpis}, "month", _bounds(months))
    every_month = warehouse.query(settings.warehouse_path, "SELECT * FROM vertical_kpis")
    score = sustainability_score(every_month, parse_weights(settings.score_weights))
    warehouse.replace_tables(settings.warehouse_path, {"sustainability_score": score})
    return StageResult(rows_in=int(silver.select(pl.len()).collect().item()), rows_out=kpis.height,
                       preview=kpis.head(20),
                       details={"months": "all" if months is None else sorted({f"{d:%Y-%m}" for d in months.dates()}),
                                "kpis": sorted(kpis["kpi"].unique().to_list()), "score_weights": settings.score_weights,
                                "months_scored": score.height})


def publish_factors(settings: Settings) -> StageResult:
    """Every factor of every release, with its citation, as the warehouse's ``factors`` table."""
    factors = all_factors(settings.factors_dir)
    warehouse.replace_tables(settings.warehouse_path, {"factors": factors})
    return StageResult(rows_in=factors.height, rows_out=factors.height,
                       details={"releases": sorted(factors["release"].unique().to_list())})


def publish_quarantine(settings: Settings) -> StageResult:
    """All quarantined rows of every stage as the warehouse's ``quarantine`` table."""
    tables = Tables(settings)
    frames = [read_table(tables.quarantine(stage), QUARANTINE_SCHEMA) for stage in STAGES]
    combined = pl.concat(frames)
    warehouse.replace_tables(settings.warehouse_path, {"quarantine": combined})
    return StageResult(rows_in=combined.height, rows_out=combined.height, quarantined=reasons(combined),
                       preview=combined.drop("raw").head(10))
