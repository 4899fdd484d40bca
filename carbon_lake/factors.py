"""The emission-factor registry: versioned releases under ``emission_factors/releases/``.

A release is a folder named for its version holding ``factors.csv`` and ``release.json``. It is
never edited once published; a correction is a new release. ``release.json`` records the
sha256 of ``factors.csv`` and loading refuses a file that no longer matches, so an edit cannot
go unnoticed. Loading also validates every row, so a bad release is refused with the row that
is wrong rather than producing wrong numbers later.

CO2e is not trusted from the file where the gases are known: a factor that gives CO2 (or
biogenic CO2), CH4 and N2O separately gets its CO2e computed under the release's GWP basis from
the GWP table (``gwp.csv``), so that changing the basis (AR5 to AR6) is a new release, not a
new spreadsheet. A factor whose source publishes only CO2e (DESNZ, Ember) keeps the published
value and the basis its source states. Biogenic CO2 never enters CO2e. Refrigerants are priced
by the GWP table itself: 1 kg leaked is GWP kg CO2e.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from carbon_lake.contracts import ContractError
from carbon_lake.refrigerants import alias_factors, load_aliases
from carbon_lake.basis import UNKNOWN, basis_note
from carbon_lake.rules import overlapping_windows
from carbon_lake.seal import check_seal, list_versions
from carbon_lake.units import units_for
from carbon_lake.vocabulary import load_vocabulary

GAS_COLUMNS = ["co2_kg_per_unit", "ch4_kg_per_unit", "n2o_kg_per_unit", "biogenic_co2_kg_per_unit",
               "published_co2e_kg_per_unit", "uncertainty_pct_95"]
REQUIRED_TEXT = ["factor_id", "activity", "region", "unit", "source_authority", "source_document", "license"]
KEY = ["activity", "variant", "region", "canonical_unit"]


@dataclass(frozen=True)
class FactorRelease:
    version: str
    description: str
    gwp_basis: str
    supersedes: str | None
    factors: pl.DataFrame  # the file's columns plus canonical_unit, co2e_kg_per_unit, gwp_basis, co2e_rule, release


def list_releases(factors_dir: Path) -> list[str]:
    """Release versions on disk, oldest first."""
    return list_versions(factors_dir / "releases")


@lru_cache(maxsize=8)
def load_gwp(factors_dir: Path) -> pl.DataFrame:
    """The GWP table: 100-year GWP per gas and IPCC assessment report, with its source."""
    table = pl.read_csv(factors_dir / "gwp.csv", schema_overrides={"gwp100": pl.Float64, "source_year": pl.Utf8})
    duplicated = table.filter(pl.struct("gas", "basis").is_duplicated())
    if duplicated.height:
        raise ContractError("gwp.csv: (gas, basis)", f"{duplicated['gas'][0]}, {duplicated['basis'][0]}",
                            "one GWP per gas and basis")
    return table


def gwp(factors_dir: Path, basis: str, gas: str) -> float:
    """One GWP100, e.g. ``gwp(dir, "AR5", "CH4") == 28``."""
    row = load_gwp(factors_dir).filter((pl.col("basis") == basis) & (pl.col("gas") == gas))
    if row.is_empty():
        raise ContractError("gwp_basis", basis, f"a basis with a GWP for {gas} in gwp.csv")
    return float(row["gwp100"][0])


def _canonical_units(factors: pl.DataFrame, factors_dir: Path, where: str) -> list[str]:
    """The activity's canonical unit each factor's unit converts to, or the row that cannot."""
    vocabulary = load_vocabulary(factors_dir)
    units = units_for(factors_dir)
    out = []
    for line, (activity_name, unit) in enumerate(factors.select("activity", "unit").iter_rows(), start=2):
        activity = vocabulary.activities.get(activity_name)
        if activity is None:
            raise ContractError(f"{where} line {line}: activity", activity_name, "an activity listed in activities.csv")
        try:
            out.append(units.canonical_for(unit, activity.canonical_units))
        except ContractError as exc:
            raise ContractError(f"{where} line {line}: unit", unit, exc.expected) from None
    return out


def validate_factors(factors: pl.DataFrame, where: str) -> None:
    """Refuse a missing citation, a duplicate id, a negative or missing value, or overlapping validity.

    ``factors`` carries ``canonical_unit`` already (see :func:`_canonical_units`). Two factors
    for the same activity, variant, region and canonical unit whose validity windows overlap
    would make the choice between them arbitrary, so the release is refused instead.
    """
    seen: set[str] = set()
    for line, row in enumerate(factors.iter_rows(named=True), start=2):
        here = f"{where} line {line}"
        for column in REQUIRED_TEXT:
            if not (row[column] or "").strip():
                raise ContractError(f"{here}: {column}", row[column], "a non-empty value (every factor cites its source)")
        if row["factor_id"] in seen:
            raise ContractError(f"{here}: factor_id", row["factor_id"], "an id not used before in this release")
        seen.add(row["factor_id"])
        for column in GAS_COLUMNS:
            if row[column] is not None and not row[column] >= 0:
                raise ContractError(f"{here}: {column}", row[column], "a non-negative number or empty")
        gases_known = row["ch4_kg_per_unit"] is not None and row["n2o_kg_per_unit"] is not None and (
            row["co2_kg_per_unit"] is not None or row["biogenic_co2_kg_per_unit"] is not None)
        if not gases_known and row["published_co2e_kg_per_unit"] is None:
            raise ContractError(f"{here}: published_co2e_kg_per_unit", None,
                                "a published CO2e, or CO2 (or biogenic CO2), CH4 and N2O to compute it from")
        if row["valid_from"] and row["valid_to"] and row["valid_from"] >= row["valid_to"]:
            raise ContractError(f"{here}: valid_to", str(row["valid_to"]), f"a date after valid_from {row['valid_from']}")
    overlaps = overlapping_windows(factors, KEY)
    if overlaps.height:
        row = overlaps.row(0, named=True)
        raise ContractError(
            f"{where} line {row['line_other']}: valid_from/valid_to", f"{row['valid_from_other']}..{row['valid_to_other']}",
            f"a window not overlapping line {row['line']} ({row['factor_id']}, {row['valid_from']}..{row['valid_to']}) "
            f"for the same activity, variant, region and unit")


def _with_co2e(factors: pl.DataFrame, factors_dir: Path, basis: str) -> pl.DataFrame:
    """CO2e per unit: from the gases under ``basis`` when they are known, else as published."""
    ch4, n2o = gwp(factors_dir, basis, "CH4"), gwp(factors_dir, basis, "N2O")
    gases_known = (pl.col("ch4_kg_per_unit").is_not_null() & pl.col("n2o_kg_per_unit").is_not_null()
                   & (pl.col("co2_kg_per_unit").is_not_null() | pl.col("biogenic_co2_kg_per_unit").is_not_null()))
    computed = (pl.col("co2_kg_per_unit").fill_null(0.0) + ch4 * pl.col("ch4_kg_per_unit")
                + n2o * pl.col("n2o_kg_per_unit"))
    return factors.with_columns(
        pl.when(gases_known).then(computed).otherwise(pl.col("published_co2e_kg_per_unit")).alias("co2e_kg_per_unit"),
        pl.when(gases_known).then(pl.lit(basis)).otherwise(pl.col("published_gwp_basis").fill_null(UNKNOWN))
        .alias("gwp_basis"),
        pl.when(gases_known).then(pl.lit(f"CO2 + {ch4:g} x CH4 + {n2o:g} x N2O ({basis})"))
        .otherwise(pl.format("as published ({})", pl.col("published_gwp_basis").fill_null(f"{UNKNOWN} basis")))
        .alias("co2e_rule"),
    )


def refrigerant_factors(factors_dir: Path, basis: str) -> pl.DataFrame:
    """One factor per refrigerant in the GWP table, and one per cited alias of it (``refrigerant_aliases.csv``).

    1 kg released is GWP100 kg CO2e. An alias (R-134a for HFC-134a) is a row of its own rather
    than a rewrite of the tag, so a leak is matched on its tag exactly as written and its emission
    row still names the gas that priced it (see :mod:`carbon_lake.refrigerants`).
    """
    gwp_table = load_gwp(factors_dir)
    gases = gwp_table.filter((pl.col("basis") == basis) & (pl.col("kind") == "refrigerant")).select(
        pl.col("gwp_id").alias("factor_id"), pl.lit("refrigerant").alias("activity"), pl.col("gas").alias("variant"),
        pl.lit("GLOBAL").alias("region"), pl.lit("kg").alias("unit"), pl.lit("kg").alias("canonical_unit"),
        pl.col("gwp100").alias("co2e_kg_per_unit"), pl.lit(basis).alias("gwp_basis"),
        pl.lit("kg of gas x GWP100").alias("co2e_rule"),
        "source_authority", "source_document", "source_year", "license", "notes",
    )
    return pl.concat([gases, alias_factors(gases, load_aliases(factors_dir, gwp_table))], how="diagonal_relaxed")


@lru_cache(maxsize=16)
def load_release(factors_dir: Path, version: str | None = None) -> FactorRelease:
    """The release ``version`` (default: the newest), checked against its sha256 and validated."""
    versions = list_releases(factors_dir)
    if not versions:
        raise ContractError("factors_dir", str(factors_dir), "a folder with releases/<version>/factors.csv")
    version = version or versions[-1]
    if version not in versions:
        raise ContractError("factor_release", version, f"one of {', '.join(versions)}")
    folder = factors_dir / "releases" / version
    meta = json.loads((folder / "release.json").read_text())
    check_seal(folder, {"factors.csv": meta.get("factors_sha256")}, f"release {version}")
    where = f"release {version} factors.csv"
    factors = pl.read_csv(
        folder / "factors.csv", infer_schema=False,
        schema_overrides={c: pl.Float64 for c in GAS_COLUMNS} | {"valid_from": pl.Date, "valid_to": pl.Date},
    )
    factors = factors.with_columns(pl.Series("canonical_unit", _canonical_units(factors, factors_dir, where)))
    validate_factors(factors, where)
    basis = meta["gwp_basis"]
    priced = pl.concat([_with_co2e(factors, factors_dir, basis), refrigerant_factors(factors_dir, basis)],
                       how="diagonal_relaxed")
    return FactorRelease(version=version, description=meta.get("description", ""), gwp_basis=basis,
                         supersedes=meta.get("supersedes"), factors=priced.with_columns(basis_note(basis).alias("gwp_basis_note"),
                                                     pl.lit(version).alias("release")))


def all_factors(factors_dir: Path) -> pl.DataFrame:
    """Every factor of every release, with its release: the warehouse's ``factors`` table."""
    return pl.concat([load_release(factors_dir, v).factors for v in list_releases(factors_dir)], how="diagonal_relaxed")
