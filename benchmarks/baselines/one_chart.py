"""Baseline page for benchmarks/run.py's browser rows: a minimal Streamlit page with one slider,
one metric and one small Plotly chart (the least any page with a chart costs a browser)."""

import plotly.graph_objects as go
import streamlit as st

bits = st.slider("bits", 2, 8, 8, key="bits")
st.metric("setting", f"{bits} bits")
st.plotly_chart(go.Figure(go.Bar(x=list(range(8)), y=[(i * bits) % 7 + 1 for i in range(8)])), key="chart")
