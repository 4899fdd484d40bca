"""The entry points at the edge: the ``carbon-lake`` command line and ``carbon-lake demo``.

They compose the whole system, so they import ``carbon_lake`` (the core), ``sensors_ingest``
(landing, HTTP, files, fleet, broker) and ``assets`` (the Dagster definitions). Keeping them
here, outside ``carbon_lake``, lets the dependencies flow one way: the rooms are built on the
core, and the core never imports the rooms built on it (``tests/test_flow_one_way.py`` checks).
"""
