"""Baseline page for benchmarks/run.py's first-chart rows: a minimal Streamlit page with the same
widget types as Explore (a sidebar with radios, a selectbox, a select_slider and a number input;
selectboxes, a slider, checkboxes, toggles and a select_slider beside the view; six metrics) and
one small Plotly chart. A browser loads a chunk of code the first time a page uses each widget
type, so any page with these controls pays that before its first chart; what is left is the app's
own part."""

import plotly.graph_objects as go
import streamlit as st

with st.sidebar:
    st.header("Data source")
    st.radio("Source", ["synthetic", "sample", "upload"], key="source", horizontal=True)
    st.selectbox("Distribution", ["normal", "uniform", "laplace"], key="distribution")
    size = st.select_slider("Size", [2**k for k in range(10, 25, 2)], value=2**16, key="size")
    seed = st.number_input("Seed", 0, 2**31 - 1, value=int(st.query_params.get("seed", 0)), key="seed")
    st.radio("Layout", ["vector", "matrix"], key="layout", horizontal=True)

st.title("Same widgets")
controls, view = st.columns([1, 3])
with controls:
    st.selectbox("Scheme", ["symmetric", "asymmetric", "nf4"], key="scheme")
    bits = st.slider("bits", 2, 16, 8, key="bits")
    st.checkbox("signed", value=True, key="signed")
    st.selectbox("calibration", ["minmax", "percentile", "entropy"], key="calibration")
    st.toggle("Manual scale and zero-point", key="manual")
with view:
    opts = st.columns(4)
    opts[0].select_slider("Plot bins", [32, 64, 128, 256], value=128, key="plot_bins")
    opts[1].selectbox("Value range", ["all", "clipping"], key="plot_range")
    opts[2].toggle("Log counts", key="plot_log")
    opts[3].selectbox("Transfer view", ["range", "zero"], key="transfer_view")
    c = [*st.columns(3), *st.columns(3)]
    for i, col in enumerate(c):
        col.metric(f"metric {i}", f"{(bits * (i + 1) + seed) % 97} dB")
    st.plotly_chart(go.Figure(go.Bar(x=list(range(8)), y=[(i * bits + seed) % 7 + 1 for i in range(8)])), key="chart")
