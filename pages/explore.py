"""Explore: one scheme on one tensor — what quantization does, live."""

import streamlit as st

import quantlib as ql
from quantlib import figures
from pages._common import data_source, load_synthetic, result_metrics, run_scheme, setting_widget

st.title("Explore")
kind, size, seed = data_source()

controls, view = st.columns([1, 3])
with controls:
    scheme = st.selectbox("Scheme", list(ql.SCHEMES), help="Every scheme in the registry.")
    spec = ql.SCHEMES[scheme]
    st.caption(spec.description)
    settings = {s.name: setting_widget(scheme, s) for s in spec.settings}

key = (kind, size, seed, scheme, tuple(sorted(settings.items())))
try:
    with st.spinner("Quantizing…"):
        x = load_synthetic(kind, size, seed)
        result = run_scheme(*key)
        m = result_metrics(*key)
except (ValueError, TypeError) as exc:
    view.error(f"Cannot quantize with these settings: {exc}")
    st.stop()

with view:
    st.latex(spec.formula)
    cols = st.columns(4)
    cols[0].metric("SQNR", f"{m['sqnr_db']:.2f} dB")
    cols[1].metric("MSE", f"{m['mse']:.3g}")
    cols[2].metric("clipped", f"{100 * m['clip_ratio']:.3f} %")
    cols[3].metric("bits / element", f"{m['bits_per_element']:.3f}")
    left, right = st.columns(2)
    left.plotly_chart(figures.distribution_figure(x, result), width="stretch")
    right.plotly_chart(figures.codes_figure(result), width="stretch")
