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


def stage_metadata(result: StageResult) -> dict[str, dg.MetadataValue]:
    metadata: dict[str, dg.MetadataValue] = {
        "rows_in": dg.MetadataValue.int(result.rows_in),
        "rows_out": dg.MetadataValue.int(result.rows_out),
        "rows_quarantined": dg.MetadataValue.int(sum(result.quarantined.values())),
    }
    if result.quarantined:
        metadata["quarantined_by_reason"] = dg.MetadataValue.json(result.quarantined)
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
    if result.preview is not None and not result.preview.is_empty():
        metadata["preview"] = dg.MetadataValue.md(markdown_table(result.preview))
    return metadata


def materialized(result: StageResult) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=stage_metadata(result))
