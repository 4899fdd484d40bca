"""The emission-factor registry: versioned releases under ``emission_factors/releases/``.

A release is a folder named for its version holding ``factors.csv`` and ``release.json``. It is
never edited once published; a correction is a new release. Loading validates it, so a bad
release is refused with the row that is wrong rather than producing wrong numbers later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from carbon_lake.contracts import ContractError
from carbon_lake.units import units_for
from carbon_lake.vocabulary import load_vocabulary

VERSION = re.compile(r"^\d{4}\.\d+\.\d+$")
GAS_COLUMNS = ["co2e_kg_per_unit", "co2_kg_per_unit", "ch4_kg_per_unit", "n2o_kg_per_unit", "biogenic_co2_kg_per_unit"]
REQUIRED_TEXT = ["factor_id", "activity", "region", "unit", "source_authority", "source_document", "license"]


@dataclass(frozen=True)
class FactorRelease:
    version: str
    description: str
    factors: pl.DataFrame


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def list_releases(factors_dir: Path) -> list[str]:
    """Release versions on disk, oldest first."""
    root = factors_dir / "releases"
    found = [p.name for p in root.iterdir() if p.is_dir() and VERSION.match(p.name)] if root.exists() else []
    return sorted(found, key=_version_key)


def validate_factors(version: str, factors: pl.DataFrame, factors_dir: Path) -> None:
    """Refuse a release with a missing citation, unknown activity or unit, or a duplicate id."""
    vocabulary = load_vocabulary(factors_dir)
    units = units_for(factors_dir)
    seen: set[str] = set()
    for line, row in enumerate(factors.iter_rows(named=True), start=2):
        where = f"release {version} factors.csv line {line}"
        for column in REQUIRED_TEXT:
            if not (row[column] or "").strip():
                raise ContractError(f"{where}: {column}", row[column], "a non-empty value (every factor cites its source)")
        if row["factor_id"] in seen:
            raise ContractError(f"{where}: factor_id", row["factor_id"], "an id not used before in this release")
        seen.add(row["factor_id"])
        activity = vocabulary.activities.get(row["activity"])
        if activity is None:
            raise ContractError(f"{where}: activity", row["activity"], "an activity listed in activities.csv")
        try:
            units.factor(activity.canonical_unit, row["unit"])
        except ContractError as exc:
            raise ContractError(f"{where}: unit", row["unit"], exc.expected) from None
        if row["co2e_kg_per_unit"] is None or row["co2e_kg_per_unit"] < 0:
            raise ContractError(f"{where}: co2e_kg_per_unit", row["co2e_kg_per_unit"], "a non-negative number")


@lru_cache(maxsize=16)
def load_release(factors_dir: Path, version: str | None = None) -> FactorRelease:
    """The release ``version`` (default: the newest), validated."""
    versions = list_releases(factors_dir)
    if not versions:
        raise ContractError("factors_dir", str(factors_dir), "a folder with releases/<version>/factors.csv")
    version = version or versions[-1]
    if version not in versions:
        raise ContractError("factor_release", version, f"one of {', '.join(versions)}")
    folder = factors_dir / "releases" / version
    meta = json.loads((folder / "release.json").read_text())
    factors = pl.read_csv(
        folder / "factors.csv",
        schema_overrides={c: pl.Float64 for c in GAS_COLUMNS} | {"valid_from": pl.Date, "valid_to": pl.Date, "source_year": pl.Utf8},
    )
    validate_factors(version, factors, factors_dir)
    return FactorRelease(version=version, description=meta.get("description", ""),
                         factors=factors.with_columns(pl.lit(version).alias("release")))


def all_factors(factors_dir: Path) -> pl.DataFrame:
    """Every factor of every release, with its release: the warehouse's ``factors`` table."""
    return pl.concat([load_release(factors_dir, v).factors for v in list_releases(factors_dir)], how="diagonal")
