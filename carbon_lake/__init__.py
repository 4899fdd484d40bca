"""carbon-lake: the domain core.

Contracts, units, the emission-factor registry, GHG math and lake storage live here as
plain functions over Polars frames and Arrow tables, so that Dagster assets, the CLI, the
Streamlit app and the tests all call the same code.
"""

__version__ = "0.1.0"
