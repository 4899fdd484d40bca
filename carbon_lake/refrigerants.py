"""Refrigerant aliases: the names a leak may be tagged with, mapped to the gas the GWP table prices.

The GWP table (``gwp.csv``) names a gas as its source does (``HFC-134a``), while a technician's
log or a chiller's controller names the same gas by its refrigerant number (``R-134a``). An
alias is accepted only when ``emission_factors/refrigerant_aliases.csv`` cites a ``gwp.csv``
row whose notes state it, word for word ("HFC-134a is the refrigerant R-134a."), so that no
equivalence is typed from memory; a name no source here states is left out and a leak tagged
with it is quarantined.

Matching is exact: the tag must be a gas of the GWP table or a listed alias, spelt as listed.
Case and hyphens are not forgiven (``r134a`` is quarantined, naming the tag), because a
tolerant match would decide on the reader's behalf which gas an unfamiliar spelling meant;
a spelling to accept is a reviewed, cited row. An alias prices as a factor row of its own,
copied from its gas's row, rather than by rewriting the reading's tag: the emission row then
keeps the tag as given (``factor_rule``) and names the gas that priced it (the factor id
``gwp-ar5-hfc134a-as-r134a``, whose ``derived_from`` is the gas's ``gwp-ar5-hfc134a``).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import polars as pl

from carbon_lake.contracts import ContractError

ALIASES_CSV = "refrigerant_aliases.csv"
COLUMNS = ["alias", "gas", "citation", "cited_rows", "id_part"]
_NOT_ID = re.compile(r"[^a-z0-9]")


def _id_part(alias: str) -> str:
    """The alias as it appears in a factor id (``R-134a`` -> ``r134a``), like the gwp ids' ``hfc134a``."""
    return _NOT_ID.sub("", alias.lower())


def load_aliases(factors_dir: Path, gwp_table: pl.DataFrame) -> pl.DataFrame:
    """The cited aliases, each checked against the ``gwp.csv`` rows it cites (no file: no aliases).

    ``id_part`` is the alias as its factor id spells it (``R-134a`` -> ``r134a``).

    A row is refused, naming its line, when its citation is not the words of every row it
    cites, when those rows are not of its gas or when its gas is no refrigerant of the table:
    then no source here states the alias. It is refused too when the alias is itself a gas of
    the table (one tag, two prices) or repeats an earlier alias, even in case and hyphens only
    (two rows, one factor id).
    """
    path = factors_dir / ALIASES_CSV
    if not path.exists():
        return pl.DataFrame(schema={c: pl.Utf8 for c in COLUMNS})
    gases = set(gwp_table["gas"])
    refrigerants = set(gwp_table.filter(pl.col("kind") == "refrigerant")["gas"])
    rows_by_id = {row["gwp_id"]: row for row in gwp_table.iter_rows(named=True)}
    seen: dict[str, int] = {}
    rows = []
    with open(path, newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            here = f"{ALIASES_CSV} line {line}"
            alias, gas, citation = row["alias"].strip(), row["gas"].strip(), row["citation"].strip()
            cited = row["cited_rows"].split()
            if not _id_part(alias):
                raise ContractError(f"{here}: alias", alias, "a refrigerant name with letters or digits")
            if _id_part(alias) in seen:
                raise ContractError(f"{here}: alias", alias, f"an alias not listed before (line {seen[_id_part(alias)]}, "
                                    "also ignoring case and hyphens)")
            if alias in gases:
                raise ContractError(f"{here}: alias", alias, "a name that is not itself a gas in gwp.csv")
            if gas not in refrigerants:
                raise ContractError(f"{here}: gas", gas, "a refrigerant in gwp.csv (kind refrigerant)")
            if not cited or any(rows_by_id.get(gwp_id, {}).get("gas") != gas for gwp_id in cited):
                raise ContractError(f"{here}: cited_rows", row["cited_rows"], f"rows of gwp.csv for {gas} (gwp_id, space-separated)")
            if alias not in citation or any(citation not in (rows_by_id[gwp_id]["notes"] or "") for gwp_id in cited):
                raise ContractError(f"{here}: citation", citation,
                                    f"the words of gwp.csv notes of {' '.join(cited)}, naming {alias}")
            seen[_id_part(alias)] = line
            rows.append({"alias": alias, "gas": gas, "citation": citation, "cited_rows": " ".join(cited),
                         "id_part": _id_part(alias)})
    return pl.DataFrame(rows, schema={c: pl.Utf8 for c in COLUMNS})


def alias_factors(gas_factors: pl.DataFrame, aliases: pl.DataFrame) -> pl.DataFrame:
    """Each alias as a copy of its gas's factor row, under the alias's name and its own id.

    ``gas_factors`` are refrigerant factors with the gas in ``variant``. A gas the basis has no
    GWP for (HFC-125 under AR4) gives its alias no row, so the alias is quarantined there too.
    """
    said = pl.format("Tagged {}, priced as {}: \"{}\" (gwp.csv notes of {}). ", "alias", "variant", "citation",
                     "cited_rows")
    return (
        gas_factors.join(aliases, left_on="variant", right_on="gas")
        .with_columns(
            pl.format("{}-as-{}", "factor_id", "id_part").alias("factor_id"),
            pl.col("alias").alias("variant"),
            pl.col("factor_id").alias("derived_from"),
            pl.format("{} ({} is {})", "co2e_rule", "alias", "variant").alias("co2e_rule"),
            pl.concat_str(said, pl.col("notes").fill_null("")).alias("notes"),
        )
        .drop("alias", "citation", "cited_rows", "id_part")
    )
