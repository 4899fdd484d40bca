"""Asset check results built the same way for every layer."""

from __future__ import annotations

import dagster as dg

from assets.metadata import markdown_table
from carbon_lake.pipeline import StageResult


def contract_check(name: str, result: StageResult) -> dg.AssetCheckResult:
    """The stage's pandera contract over the rows its run wrote: passed, or which rules broke and how often.

    The stage validates each slice as it writes it (see ``pipeline._Totals``), so the check never
    needs the whole range in memory."""
    broken = result.violations
    passed = broken is None or broken.is_empty()
    metadata: dict[str, dg.MetadataValue] = {"rows_checked": dg.MetadataValue.int(result.rows_out),
                                             "rules_broken": dg.MetadataValue.int(0 if passed else broken.height)}
    if not passed:
        metadata["violations"] = dg.MetadataValue.md(markdown_table(broken))
    return dg.AssetCheckResult(check_name=name, passed=passed, metadata=metadata)
