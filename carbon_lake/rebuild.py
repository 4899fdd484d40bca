"""Re-deriving a lake from its landing files: the migration after any change of layout.

The landing files are the lake's record of what arrived, byte for byte; every other table
(bronze, silver, quarantine, gold and the warehouse) is derived from them by the stages. So a
lake written in an older layout is converted by setting its derived tables aside and running
the stages again over every landing file. Nothing is deleted: the old tables move to
``.previous/<UTC time>/`` inside the lake, to compare against or restore, until the owner
removes them. Landing, the device credentials and the Dagster history stay where they are.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from carbon_lake.pipeline import Tables
from carbon_lake.settings import Settings

PREVIOUS = ".previous"


def derived_paths(settings: Settings) -> list[Path]:
    """Everything in the lake that the stages derive from landing, present or not."""
    warehouse = settings.warehouse_path
    return [settings.bronze_dir, settings.silver_dir, settings.quarantine_dir, Tables(settings).emissions.parent,
            warehouse, warehouse.with_name(warehouse.name + ".wal")]


def set_aside_derived(settings: Settings, now: datetime | None = None) -> Path | None:
    """Move the derived tables to ``.previous/<UTC time>/``; the folder, or None if there were none.

    A rename within the lake: instant, atomic per table, and it needs no free space. The old
    warehouse's ``emissions`` view names the old Delta files by path, so it reads only while
    they are still where it expects; the other old tables read anywhere."""
    present = [path for path in derived_paths(settings) if path.exists()]
    if not present:
        return None
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S.%fZ")
    target = settings.home / PREVIOUS / stamp
    target.mkdir(parents=True)
    for path in present:
        path.rename(target / path.name)
    return target
