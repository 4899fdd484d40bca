"""The activity vocabulary: which metrics exist, their canonical unit, scope and category.

It is data (``emission_factors/activities.csv`` and ``scopes.csv``), not code, so that adding an
activity is a reviewed change to a file beside the factor releases.
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
    name: str
    quantity_kind: str
    canonical_unit: str
    non_negative: bool


@dataclass(frozen=True)
class Vocabulary:
    activities: dict[str, Activity]
    aliases: dict[str, str]
    scopes: pl.DataFrame  # activity, vertical ("*" = any), scope, category

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
        raise ContractError("metric", metric, "a known activity with a unit suffix, e.g. electricity_kwh (see emission_factors/activities.csv)")


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
            activities[name] = Activity(name, row["quantity_kind"], row["canonical_unit"],
                                        _flag(f"activities.csv line {line}: non_negative", row["non_negative"]))
            for alias in row["aliases"].split():
                aliases[alias] = name
    scopes = pl.read_csv(factors_dir / "scopes.csv", schema_overrides={"scope": pl.Int8})
    unknown = set(scopes["activity"]) - set(activities)
    if unknown:
        raise ContractError("scopes.csv: activity", sorted(unknown)[0], "an activity listed in activities.csv")
    return Vocabulary(activities, aliases, scopes)
