"""Baseline page for benchmarks/run.py: the plainest page that does what Explore does on a bits
change — quantize the tensor and histogram the values, their quantized copy and the error into
three Plotly charts (np.histogram, 2048 bins as Explore's default, validated go.Figure)."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st


@st.cache_data(max_entries=2, ttl=3600)
def tensor(n: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(n).astype(np.float32)


n = int(st.query_params.get("n", 2**20))
bits = st.slider("bits", 2, 8, 8, key="bits")
x = tensor(n)
amax = float(np.abs(x).max())
scale = np.float32(amax / (2 ** (bits - 1) - 1))
xq = np.clip(np.rint(x / scale), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1) * scale
st.metric("SQNR", f"{10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((x - xq).astype(np.float64) ** 2)):.2f} dB")
for title, v in (("values", x), ("quantized", xq), ("error", x - xq)):
    counts, edges = np.histogram(v, 2048)
    st.plotly_chart(go.Figure(go.Bar(x=edges[:-1], y=counts), layout_title_text=title), key=title)
