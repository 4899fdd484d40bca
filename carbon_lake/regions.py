"""Which region codes a reading may carry, and the explicit aliases for common misspellings.

A region the engine does not know must not quietly become the world average: ``"UK"`` priced
at the GLOBAL grid factor is more than twice Great Britain's. So a reading's ``tags.region``
must be an ISO 3166-1 alpha-2 code (from ``pycountry``, which ships the ISO tables), a region
some factor release names (grid subregions such as ``US-CAMX``, ``EU``, ``GLOBAL``) or an alias
listed in ``emission_factors/region_aliases.csv`` with the reason it maps (``UK`` -> ``GB``).
Anything else is quarantined at silver with the code ``region_unknown``; bronze keeps the
region as sent, so the alias applied is always visible next to the raw value.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import polars as pl
import pycountry

from carbon_lake.contracts import ContractError
from carbon_lake.factors import list_releases, load_release

SITE_PREFIX = "site:"  # site-specific factors are chosen by the reading's site, never named in a tag


@lru_cache(maxsize=8)
def known_regions(factors_dir: Path) -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes and every region a release's factors name."""
    named = {region for version in list_releases(factors_dir)
             for region in load_release(factors_dir, version).factors["region"].unique().to_list()
             if region and not region.startswith(SITE_PREFIX)}
    return frozenset({country.alpha_2 for country in pycountry.countries} | named)


@lru_cache(maxsize=8)
def region_aliases(factors_dir: Path) -> dict[str, str]:
    """``alias -> region`` from ``region_aliases.csv``; an alias that is itself a code, or maps to
    an unknown region, is refused (it would make two spellings of one place mean different things)."""
    path = factors_dir / "region_aliases.csv"
    if not path.exists():
        return {}
    known, aliases = known_regions(factors_dir), {}
    with open(path, newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"region_aliases.csv line {line}"
            if row["alias"] in known or row["alias"] in aliases:
                raise ContractError(f"{where}: alias", row["alias"], "a spelling that is not a known region or earlier alias")
            if row["region"] not in known:
                raise ContractError(f"{where}: region", row["region"], "a known region (ISO 3166-1 or named by a release)")
            if not (row.get("why") or "").strip():
                raise ContractError(f"{where}: why", row.get("why"), "the reason the alias maps (its source)")
            aliases[row["alias"]] = row["region"]
    return aliases


def region_mapping(regions: pl.Series, factors_dir: Path) -> pl.DataFrame:
    """For each distinct region as sent: the region priced (``region_priced``) or the reason it is unknown."""
    known, aliases = known_regions(factors_dir), region_aliases(factors_dir)
    rows = []
    for given in regions.drop_nulls().unique().to_list():
        if given in known:
            rows.append((given, given, None))
        elif given in aliases:
            rows.append((given, aliases[given], None))
        else:
            rows.append((given, None, str(ContractError(
                "tags.region", given, "an ISO 3166-1 alpha-2 code (e.g. GB, KE), a region a factor release names "
                "(e.g. US-CAMX, EU, GLOBAL) or an alias in region_aliases.csv", code="region_unknown"))))
    return pl.DataFrame(rows, orient="row", schema={"region": pl.Utf8, "region_priced": pl.Utf8,
                                                    "region_error": pl.Utf8})
