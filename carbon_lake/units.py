"""Unit normalization through pint: every quantity reaches one canonical unit per activity.

Conversions are computed once per distinct unit and applied to whole columns as
``canonical = value * scale + offset`` (the offset is only non-zero for temperatures), so that
pint's correctness costs nothing per row.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import pint

from carbon_lake.contracts import ContractError


class Units:
    """A pint registry extended with the project's unit definitions and suffix aliases."""

    def __init__(self, factors_dir: Path) -> None:
        self.registry = pint.UnitRegistry()
        definitions = factors_dir / "units.txt"
        if definitions.exists():
            self.registry.load_definitions(str(definitions))
        with open(factors_dir / "unit_aliases.csv", newline="") as handle:
            self.aliases = {row["alias"]: row["unit"] for row in csv.DictReader(handle)}

    def parse(self, text: str) -> pint.Unit:
        """A pint unit from a metric suffix (``litres``), an alias, or any pint expression."""
        spelled = self.aliases.get(text, self.aliases.get(text.lower(), text))
        try:
            return self.registry.parse_units(spelled)
        except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, AttributeError,
                TypeError, ValueError, SyntaxError, AssertionError):
            raise ContractError("unit", text, "a unit the units library knows (e.g. kWh, L, kg, m**3)",
                                code="unit_unknown") from None

    def affine(self, unit: str, canonical: str) -> tuple[float, float]:
        """``(scale, offset)`` with ``value_in_canonical = value * scale + offset``."""
        source, target = self.parse(unit), self.parse(canonical)
        try:
            zero = self.registry.Quantity(0.0, source).to(target).magnitude
            one = self.registry.Quantity(1.0, source).to(target).magnitude
        except pint.errors.DimensionalityError:
            raise ContractError(
                "unit", unit, f"a unit convertible to {canonical} ({self.registry.get_dimensionality(target)})",
                code="unit_incompatible") from None
        return float(one - zero), float(zero)

    def canonical_for(self, unit: str, canonicals: tuple[str, ...]) -> str:
        """The one of an activity's canonical units that ``unit`` converts to (natural gas: m**3 or kWh)."""
        source = self.parse(unit)
        for canonical in canonicals:
            if self.registry.get_dimensionality(source) == self.registry.get_dimensionality(self.parse(canonical)):
                return canonical
        raise ContractError("unit", unit, f"a unit convertible to {' or '.join(canonicals)}", code="unit_incompatible")

    def factor(self, unit: str, canonical: str) -> float:
        """How many ``canonical`` make one ``unit`` (for multiplicative units only)."""
        scale, offset = self.affine(unit, canonical)
        if offset:
            raise ContractError("unit", unit, f"a multiplicative unit, not an offset unit like {unit}")
        return scale


@lru_cache(maxsize=8)
def units_for(factors_dir: Path) -> Units:
    return Units(factors_dir)
