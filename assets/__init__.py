"""Dagster definitions for carbon-lake: thin assets around the stages in ``carbon_lake.pipeline``."""
