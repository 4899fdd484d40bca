"""One GWP basis per release, and a statement of every row that is on another.

A release's ``gwp_basis`` (AR4, AR5, AR6) is the basis its per-gas factors are converted under.
A source that publishes CO2e only (DESNZ, Ember) cannot be restated: without its CH4 and N2O
there is nothing to re-weigh, so its rows keep the basis the source states, or ``unknown``
where it states none. Those rows are not hidden: each factor row says its own basis and why it
differs (``gwp_basis_note``), ``carbon-lake factors validate`` lists them per release, every
emission row carries ``gwp_basis``, and the warehouse view ``gwp_basis_mix`` states how much
CO2e of each inventory is on which basis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from carbon_lake.factors import FactorRelease

UNKNOWN = "unknown"


def basis_note(release_basis: str) -> pl.Expr:
    """Why a factor row's basis differs from its release's (null where it does not)."""
    return (
        pl.when(pl.col("gwp_basis") == release_basis).then(pl.lit(None, pl.Utf8))
        .when(pl.col("gwp_basis") == UNKNOWN)
        .then(pl.lit(f"the source publishes CO2e only and states no GWP basis; not restated to {release_basis}"))
        .otherwise(pl.format(f"the source publishes CO2e only, on {{}}; not restated to {release_basis} "
                             "(no per-gas values to re-weigh)", "gwp_basis"))
    )


def basis_exceptions(release: FactorRelease) -> pl.DataFrame:
    """``(gwp_basis, factors, factor_ids)`` for the rows of ``release`` not on its basis."""
    return (
        release.factors.filter(pl.col("gwp_basis") != release.gwp_basis)
        .group_by("gwp_basis").agg(pl.len().alias("factors"), pl.col("factor_id").sort().alias("factor_ids"))
        .sort("gwp_basis")
    )


def describe(release: FactorRelease) -> str:
    """One line for ``factors validate``: the release's basis and the rows on another."""
    exceptions = basis_exceptions(release)
    if exceptions.is_empty():
        return f"GWP basis {release.gwp_basis} for every factor"
    parts = [f"{row['factors']} on {row['gwp_basis']} ({', '.join(row['factor_ids'][:3])}"
             f"{', ...' if row['factors'] > 3 else ''})" for row in exceptions.iter_rows(named=True)]
    return (f"GWP basis {release.gwp_basis}, except rows whose source publishes CO2e only: " + "; ".join(parts))


# The inventory's statement of which rows are on which basis, per org, year, scope and method.
BASIS_MIX_SQL = (
    "SELECT org, year(timezone('UTC', ts)) AS year, scope, coalesce(method, 'both') AS method, factor_release, "
    f"coalesce(gwp_basis, '{UNKNOWN}') AS gwp_basis, count(*) AS lines, sum(co2e_kg) AS co2e_kg "
    "FROM emissions GROUP BY ALL ORDER BY ALL"
)
