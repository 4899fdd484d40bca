"""Contractual instruments for market-based scope 2: PPAs, RECs/GOs and supplier tariffs, per site.

Under the GHG Protocol Scope 2 Guidance the market-based method prices the electricity a
contract covers at the contract's emission rate (zero for renewable PPAs and certificates, the
supplier's disclosed rate for a tariff) and the rest at the residual mix, or at the grid
average where no residual mix is available. Instruments are declared as data
(``instruments.csv`` of a sealed site-data version, :mod:`carbon_lake.site_data`): the site, the
validity window, the share of the site's consumption covered and the rate, with the evidence an
auditor would ask for. A market row names its instrument by ``instrument_id``, so an id is used once.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from carbon_lake.contracts import ContractError

KINDS = ("ppa", "rec", "go", "supplier_tariff")
SCHEMA = {"instrument_id": pl.Utf8, "org": pl.Utf8, "site": pl.Utf8, "kind": pl.Utf8, "valid_from": pl.Date,
          "valid_to": pl.Date, "share": pl.Float64, "co2e_kg_per_kwh": pl.Float64, "evidence": pl.Utf8}


def load_instruments(folder: Path) -> pl.DataFrame:
    """The instruments declared in ``folder``, validated; an empty table when the file is absent."""
    path = folder / "instruments.csv"
    if not path.exists():
        return pl.DataFrame(schema=SCHEMA)
    table = pl.read_csv(path, schema=SCHEMA)
    seen: set[str] = set()
    for line, row in enumerate(table.iter_rows(named=True), start=2):
        where = f"instruments.csv line {line}"
        for column in ("instrument_id", "org", "site", "evidence"):
            if not (row[column] or "").strip():
                raise ContractError(f"{where}: {column}", row[column], "a non-empty value")
        if row["instrument_id"] in seen:
            raise ContractError(f"{where}: instrument_id", row["instrument_id"], "an id not used before in this file")
        seen.add(row["instrument_id"])
        if row["kind"] not in KINDS:
            raise ContractError(f"{where}: kind", row["kind"], " | ".join(KINDS))
        if row["share"] is None or not 0 < row["share"] <= 1:
            raise ContractError(f"{where}: share", row["share"], "a share of consumption in (0, 1]")
        if row["co2e_kg_per_kwh"] is None or row["co2e_kg_per_kwh"] < 0:
            raise ContractError(f"{where}: co2e_kg_per_kwh", row["co2e_kg_per_kwh"], "a non-negative rate")
        if row["valid_from"] is None:
            raise ContractError(f"{where}: valid_from", None, "the first day the contract covers")
    windows = table.with_row_index("line", offset=2).with_columns(pl.col("valid_to").fill_null(pl.date(9999, 12, 31)))
    overlaps = windows.join(windows, on=["org", "site"], suffix="_other").filter(
        (pl.col("line") < pl.col("line_other")) & (pl.col("valid_from") < pl.col("valid_to_other"))
        & (pl.col("valid_from_other") < pl.col("valid_to")))
    if overlaps.height:
        row = overlaps.row(0, named=True)
        raise ContractError(f"instruments.csv line {row['line_other']}: valid_from", str(row["valid_from_other"]),
                            f"a window not overlapping {row['instrument_id']} for site {row['org']}/{row['site']} "
                            "(declare one instrument per site and period, with the combined share)")
    return table
