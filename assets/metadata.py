"""Materialization metadata: what an engineer reads in the Dagster UI after a run."""

from __future__ import annotations

import json

import dagster as dg
import polars as pl

from carbon_lake.pipeline import StageResult


def markdown_table(frame: pl.DataFrame, limit: int = 10) -> str:
    shown = frame.head(limit).select([pl.col(c).cast(pl.Utf8) for c in frame.columns if frame[c].dtype != pl.Binary])
    header = "| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns) + "\n"
    body = "".join("| " + " | ".join("" if v is None else v.replace("|", "\\|") for v in row) + " |\n" for row in shown.iter_rows())
    return header + body


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """A one-line plot: a trend reads at a glance in the run's metadata, where a table of numbers does not."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARKS[round((v - low) / span * (len(SPARKS) - 1))] for v in values)


def _is_series(value: object) -> bool:
    return (isinstance(value, dict) and len(value) > 1
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()))


def stage_metadata(result: StageResult) -> dict[str, dg.MetadataValue]:
    metadata: dict[str, dg.MetadataValue] = {
        "rows_in": dg.MetadataValue.int(result.rows_in),
        "rows_out": dg.MetadataValue.int(result.rows_out),
        "rows_quarantined": dg.MetadataValue.int(sum(result.quarantined.values())),
    }
    if result.quarantined:
        metadata["quarantined_by_code"] = dg.MetadataValue.json(result.quarantined)
    for key, value in result.details.items():
        if isinstance(value, bool) or value is None:
            metadata[key] = dg.MetadataValue.text(json.dumps(value))
        elif isinstance(value, int):
            metadata[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            metadata[key] = dg.MetadataValue.float(value)
        elif isinstance(value, str):
            metadata[key] = dg.MetadataValue.text(value)
        else:
            metadata[key] = dg.MetadataValue.json(value)
        if _is_series(value):  # {label: number}, in order: also drawn as a sparkline
            labels = list(value)
            metadata[f"{key}_trend"] = dg.MetadataValue.text(
                f"{sparkline(list(value.values()))}  {labels[0]} .. {labels[-1]}, max {max(value.values()):,.1f}")
    if result.preview is not None and not result.preview.is_empty():
        metadata["preview"] = dg.MetadataValue.md(markdown_table(result.preview))
    return metadata


def materialized(result: StageResult, checks: list[dg.AssetCheckResult] | None = None) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=stage_metadata(result), check_results=checks)
