"""The activity vocabulary: which metrics exist, their canonical units, and the emission lines they make.

It is data (``emission_factors/activities.csv`` and ``emission_lines.csv``), not code, so that
adding an activity or changing its scope is a reviewed change to a file beside the factor releases.
An emission line says which scope and category a reading's activity counts under, which factor
activity prices it, and (for scope 2) which method; one reading can make several lines, e.g.
grid electricity makes a location-based and a market-based scope 2 line and a scope 3 line for
transmission and distribution losses.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from carbon_lake.contracts import ContractError


@dataclass(frozen=True)
class Activity:
    """An activity and its canonical unit per quantity kind (natural gas: m**3 by volume, kWh by energy)."""

    name: str
    quantity_kinds: tuple[str, ...]
    canonical_units: tuple[str, ...]
    non_negative: bool

    @property
    def canonical_unit(self) -> str:
        """The unit a metric without a unit suffix is read in."""
        return self.canonical_units[0]


@dataclass(frozen=True)
class Vocabulary:
    activities: dict[str, Activity]
    aliases: dict[str, str]
    lines: pl.DataFrame  # emission_lines.csv: activity, vertical ("*" = any), scope, category, method, ...

    def split_metric(self, metric: str) -> tuple[Activity, str | None]:
        """``diesel_litres`` -> (diesel, "litres"); ``pue`` -> (pue, None).

        The longest known activity (or alias) that prefixes the name wins, so that
        ``flue_temp_c`` is flue_temp in degrees C and not an activity ``flue``.
        """
        names = sorted({**self.aliases, **{a: a for a in self.activities}}.items(), key=lambda kv: -len(kv[0]))
        for spelled, activity in names:
            if metric == spelled:
                return self.activities[activity], None
            if metric.startswith(spelled + "_"):
                return self.activities[activity], metric[len(spelled) + 1:]
        raise ContractError("metric", metric, "a known activity with a unit suffix, e.g. electricity_kwh "
                            "(see emission_factors/activities.csv)", code="metric_unknown")


def _flag(field: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise ContractError(field, value, "true or false")
    return value == "true"


@lru_cache(maxsize=8)
def load_vocabulary(factors_dir: Path) -> Vocabulary:
    activities: dict[str, Activity] = {}
    aliases: dict[str, str] = {}
    with open(factors_dir / "activities.csv", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            name = row["activity"]
            if name in activities:
                raise ContractError(f"activities.csv line {line}: activity", name, "a name not listed before")
            kinds, units = tuple(row["quantity_kind"].split()), tuple(row["canonical_unit"].split())
            if len(kinds) != len(units) or not units:
                raise ContractError(f"activities.csv line {line}: canonical_unit", row["canonical_unit"],
                                    f"one canonical unit per quantity kind ({row['quantity_kind']})")
            activities[name] = Activity(name, kinds, units,
                                        _flag(f"activities.csv line {line}: non_negative", row["non_negative"]))
            for alias in row["aliases"].split():
                aliases[alias] = name
    return Vocabulary(activities, aliases, _load_lines(factors_dir / "emission_lines.csv", activities))


def _load_lines(path: Path, activities: dict[str, Activity]) -> pl.DataFrame:
    lines = pl.read_csv(path, schema_overrides={"scope": pl.Int8, "required": pl.Boolean}, infer_schema=False)
    for line, row in enumerate(lines.iter_rows(named=True), start=2):
        where = f"{path.name} line {line}"
        for column in ("activity", "factor_activity"):
            if row[column] not in activities:
                raise ContractError(f"{where}: {column}", row[column], "an activity listed in activities.csv")
        if row["scope"] not in (1, 2, 3):
            raise ContractError(f"{where}: scope", row["scope"], "1, 2 or 3")
        if (row["scope"] == 2) != (row["method"] in ("location", "market")):
            raise ContractError(f"{where}: method", row["method"], "location or market for scope 2, empty otherwise")
    return lines.with_columns(pl.col("unless_activities").fill_null("").str.split(" ").list.eval(
        pl.element().filter(pl.element() != "")))
