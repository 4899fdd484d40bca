"""Carbon-lake analyst app, home page: where the emissions are, by scope, site and time.

Run with ``streamlit run streamlit_app/Home.py``; the lake is the one ``CARBON_LAKE_HOME``
names. The page only reads ``warehouse.duckdb`` (read-only connections), never the lake's
other folders, so it is safe to leave open while the landing service and Dagster write.
Further pages go in ``streamlit_app/pages/``.
"""

from __future__ import annotations

from typing import NoReturn

import altair as alt
import duckdb
import polars as pl
import streamlit as st

import data
from carbon_lake.warehouse import WarehouseMissing

SCOPES = ["Scope 1", "Scope 2", "Scope 3"]
# One colour per scope on every chart, whether or not a scope has data in the selection.
SCOPE_COLOURS = alt.Scale(domain=SCOPES, range=["#d1495b", "#edae49", "#00798c"])
BUCKET_LABEL = {"hour": "hourly", "day": "daily"}
BUCKET_FORMAT = {"hour": "%d %b %H:%M", "day": "%d %b %Y"}
MAX_LABELLED_BUCKETS = 12

st.set_page_config(page_title="Carbon lake", page_icon="🌍", layout="wide")
st.title("Carbon lake: emissions overview")


def display_unit(largest_kg: float) -> tuple[str, float]:
    """Tonnes, unless everything is under a tonne (a fresh demo): then kilograms, so the page
    shows real numbers instead of a row of 0.000."""
    return ("t", 1000.0) if largest_kg >= 1000 else ("kg", 1.0)


def with_scope_label(frame: pl.DataFrame) -> pl.DataFrame:
    """Scope numbers as 'Scope n' labels and kg in the page's unit, ready for a chart."""
    return frame.with_columns(
        pl.format("Scope {}", pl.col("scope")).alias("scope"),
        (pl.col("co2e_kg") / DIVISOR).alias("co2e"),
    )


def scope_colour(legend: bool = True) -> alt.Color:
    """The shared scope colour encoding, so Scope 2 is the same colour on every chart."""
    return alt.Color("scope:N", scale=SCOPE_COLOURS, title="Scope", legend=alt.Legend() if legend else None)


def stop_with_no_warehouse() -> NoReturn:
    """Explain how to get data, then stop the script (no traceback for an empty lake)."""
    st.info(
        "There is no warehouse in this lake yet.\n\n"
        "Run `carbon-lake demo` to simulate a fleet and materialize it, or land some data and run "
        "`carbon-lake materialize`. Set `CARBON_LAKE_HOME` to point the app at another lake."
    )
    st.stop()


try:
    path = data.warehouse_path()
except ValueError as exc:  # a malformed CARBON_LAKE_* variable
    st.error(f"Cannot read the lake settings: {exc}")
    st.stop()

version = data.file_version(path)
if version is None:
    st.caption(f"Lake: `{path.parent}`")
    stop_with_no_warehouse()

# Sidebar filters. An empty selection means "all"; site choices follow the selected orgs.
try:
    options = data.filter_options(str(path), version)
except WarehouseMissing:
    stop_with_no_warehouse()

with st.sidebar:
    st.header("Filters")
    orgs = st.multiselect("Organisation", options["org"].unique().sort().to_list(), key="orgs",
                          placeholder="All organisations")
    site_choices = (options.filter(pl.col("org").is_in(orgs)) if orgs else options)["site"].unique().sort().to_list()
    # Drop sites that the org selection no longer offers, before the widget is drawn.
    if "sites" in st.session_state:
        st.session_state["sites"] = [s for s in st.session_state["sites"] if s in site_choices]
    sites = st.multiselect("Site", site_choices, key="sites", placeholder="All sites")
    method = st.radio("Scope 2 method", ["location", "market"], key="method", horizontal=True,
                      format_func=lambda m: f"{m.capitalize()}-based",
                      help="GHG Protocol dual reporting: grid averages (location) or contractual "
                           "instruments such as PPAs, with the grid average for the rest (market).")
    st.caption(f"Warehouse: `{path}`")

try:
    snap = data.load_snapshot(str(path), version, tuple(orgs), tuple(sites), method)
except WarehouseMissing:
    stop_with_no_warehouse()
except duckdb.Error as exc:
    st.error(f"Could not read the warehouse: {exc}")
    st.stop()

if snap.missing_tables:
    st.warning(
        "The warehouse has no " + ", ".join(f"`{t}`" for t in snap.missing_tables)
        + " table yet; a materialization may still be running. Numbers may be incomplete."
    )

# Headline metrics.
head = snap.headline
UNIT, DIVISOR = display_unit(max(head.co2e_kg, head.biogenic_co2_kg))
CO2E = f"{UNIT}CO2e"


def amount(kg: float) -> str:
    """kg from the warehouse in the page's unit; 3 decimals keep kilogram precision in tonnes."""
    return f"{kg / DIVISOR:,.3f}"


cols = st.columns(4)
cols[0].metric(f"Total {CO2E}", amount(head.co2e_kg), help="Scopes 1 + 2 + 3, in CO2 equivalent.")
for col, scope in zip(cols[1:], (1, 2, 3), strict=True):
    col.metric(f"Scope {scope} {CO2E}", amount(head.scope_kg[scope]))
cols = st.columns(4)
cols[0].metric(f"Biogenic CO2 ({UNIT}, outside scopes)", amount(head.biogenic_co2_kg),
               help="CO2 from burning biomass (e.g. firewood). GHG Protocol reports it separately, "
                    "not in the scope totals.")
cols[1].metric("Readings", f"{head.readings:,}",
               help=f"Distinct (source_id, event_id) readings with emissions; {head.line_items:,} line items.")
cols[2].metric("Quarantined rows", "—" if head.quarantined is None else f"{head.quarantined:,}",
               help="Rejected rows of every stage, for all orgs and sites (a rejected message may have no "
                    "org or site). See the warehouse's quarantine table for reasons and raw bytes.")

if head.line_items == 0:
    st.info("No emissions match the current filters.")
    st.stop()

# Totals by scope and by site.
left, right = st.columns(2)
with left:
    st.subheader("By scope")
    by_scope = with_scope_label(snap.by_scope).to_pandas()
    st.altair_chart(
        alt.Chart(by_scope).mark_bar().encode(
            x=alt.X("scope:N", title=None, sort=SCOPES, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("co2e:Q", title=CO2E),
            color=scope_colour(legend=False),
            tooltip=["scope", alt.Tooltip("co2e:Q", title=CO2E, format=",.3f")],
        ),
        width="stretch",
    )
with right:
    st.subheader("By site")
    by_site = with_scope_label(snap.by_site).with_columns(
        pl.format("{} / {}", "org", "site").alias("site_label")
    ).to_pandas()
    st.altair_chart(
        alt.Chart(by_site).mark_bar().encode(
            x=alt.X("site_label:N", title=None, sort="-y", axis=alt.Axis(labelAngle=-20, labelLimit=180)),
            y=alt.Y("sum(co2e):Q", title=CO2E),
            color=scope_colour(),
            order=alt.Order("scope:O"),  # Scope 1 at the bottom of each stack
            tooltip=["org", "site", "scope", alt.Tooltip("co2e:Q", title=CO2E, format=",.3f")],
        ),
        width="stretch",
    )

# Trend: the bucket follows the span of the selected data. Buckets are UTC, so the scale is
# UTC too (a browser in Nairobi must not shift 10:00 to 13:00), and a few buckets get one tick
# each rather than Vega's 15-minute ticks between hourly points.
st.subheader(f"Trend ({BUCKET_LABEL[snap.bucket]}, UTC)")
time_format = BUCKET_FORMAT[snap.bucket]
trend = with_scope_label(snap.trend).with_columns(pl.col("bucket").dt.strftime(time_format).alias("when"))
buckets = snap.trend["bucket"].unique().sort()
ticks = (
    [alt.DateTime(year=b.year, month=b.month, date=b.day, hours=b.hour, utc=True) for b in buckets.to_list()]
    if buckets.len() <= MAX_LABELLED_BUCKETS else alt.Undefined
)
st.altair_chart(
    alt.Chart(trend.to_pandas()).mark_line(point=True).encode(
        x=alt.X("bucket:T", title=None, scale=alt.Scale(type="utc"), axis=alt.Axis(format=time_format, values=ticks)),
        y=alt.Y("co2e:Q", title=CO2E),
        color=scope_colour(),
        tooltip=[alt.Tooltip("when:N", title=f"{snap.bucket} (UTC)"), "scope", alt.Tooltip("co2e:Q", title=CO2E, format=",.3f")],
    ),
    width="stretch",
)

# Which factor releases produced these numbers.
st.subheader("Factor releases used")
st.dataframe(
    snap.releases.with_columns((pl.col("co2e_kg") / DIVISOR).alias("co2e")).drop("co2e_kg"),
    hide_index=True,
    column_config={
        "factor_release": "Release",
        "factors_used": "Factors used",
        "line_items": "Line items",
        "co2e": st.column_config.NumberColumn(CO2E, format="%.3f"),
        "first_ts": "First reading",
        "last_ts": "Last reading",
    },
)
st.subheader("Data quality")
st.caption("Lines priced through a regional fallback, CO2e per GWP basis, and rejected rows per reason code "
           "(the warehouse's quarantine table has each row's detail and raw bytes).")
st.dataframe(
    snap.quality.with_columns((pl.col("co2e_kg") / DIVISOR).alias("co2e")).drop("co2e_kg")
    if not snap.quality.is_empty() else snap.quality,
    hide_index=True,
    column_config={"kind": "Kind", "code": "Code", "rows": "Rows",
                   "co2e": st.column_config.NumberColumn(CO2E, format="%.3f")},
)
with st.expander("Factors applied"):
    st.dataframe(
        snap.factors_used.with_columns((pl.col("co2e_kg") / DIVISOR).alias("co2e")).drop("co2e_kg"),
        hide_index=True,
        column_config={
            "factor_value": st.column_config.NumberColumn("kg CO2e per unit", format="%.6g"),
            "co2e": st.column_config.NumberColumn(CO2E, format="%.3f"),
        },
    )
