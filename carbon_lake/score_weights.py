"""The composite score's weights, parsed and checked without importing the data stack.

``Settings.from_env`` validates ``CARBON_LAKE_SCORE_WEIGHTS`` at start-up in every process, the
landing service included, which has no use for polars; so the check lives here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from carbon_lake.contracts import ContractError

TERMS = ("data_center", "logistics", "manufacturing", "saas")
DEFAULT_WEIGHTS: dict[str, float] = {"data_center": 0.25, "logistics": 0.25, "manufacturing": 0.25, "saas": 0.25}


def check_weights(weights: Mapping[str, object]) -> dict[str, float]:
    """Known keys, finite non-negative numbers, positive sum; missing keys weigh 0."""
    checked = {}
    for key, value in weights.items():
        if key not in TERMS:
            raise ContractError("score weight key", key, f"one of {', '.join(TERMS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ContractError(f"score weight {key}", value, "a finite number >= 0")
        checked[key] = float(value)
    if sum(checked.values()) <= 0:
        raise ContractError("score weights", dict(weights), "at least one weight > 0")
    return checked


def parse_weights(text: str) -> dict[str, float]:
    """Parse ``"data_center=0.4,logistics=0.2,..."`` (CARBON_LAKE_SCORE_WEIGHTS); missing keys weigh 0."""
    weights: dict[str, float] = {}
    for item in (piece.strip() for piece in text.split(",")):
        key, sep, raw = (part.strip() for part in item.partition("="))
        if not sep or not key:
            raise ContractError("score weights", item, "key=number pairs separated by commas")
        if key in weights:
            raise ContractError("score weight key", key, "each key at most once")
        try:
            weights[key] = float(raw)
        except ValueError:
            raise ContractError(f"score weight {key}", raw, "a number") from None
    return check_weights(weights)
